"""`--dask-scheduler` over TLS (issue 10, defect 10): the TLS settings come from
``--dask-security FILE`` or Dask's configuration, a tls:// address without certificates is one
clear error, and the sessions run on a TLS cluster."""

from __future__ import annotations

import pytest

from gliopet.cluster import scheduler_security
from gliopet.errors import InputError
from gliopet.stage import run_stage
from support.bids_factory import make_bids_dataset
from support.stages import TOY, FrameCountStage
from support.tls import self_signed

dask = pytest.importorskip("dask")
pytest.importorskip("distributed")

NO_TLS = {"distributed.comm.tls.ca-file": None, "distributed.comm.tls.client.cert": None,
          "distributed.comm.tls.client.key": None}
SECURITY_YAML = """distributed:
  comm:
    tls:
      ca-file: {ca}
      client:
        cert: {cert}
        key: {key}
"""


@pytest.fixture
def dataset(tmp_path):
    make_bids_dataset(tmp_path / "bids", n_subjects=2, n_frames=4, shape=(4, 4, 3))
    return tmp_path / "bids"


def _security_file(folder, ca="ca.pem", cert="client.pem", key="client-key.pem", touch=True):
    if touch:
        for name in (ca, cert, key):
            (folder / name).write_text("PEM")
    path = folder / "dask-security.yaml"
    path.write_text(SECURITY_YAML.format(ca=ca, cert=cert, key=key))
    return path


def test_tls_address_without_certificates_is_one_clear_line(run_cli, dataset):
    with dask.config.set(NO_TLS):
        code, out, err = run_cli("preprocess", dataset, "--dask-scheduler", "tls://127.0.0.1:9")
    assert code == 2
    assert err.strip() == (
        "error: tls://127.0.0.1:9: a tls:// scheduler needs the CA certificate and a client "
        "certificate, and none are configured (fix: give --dask-security FILE, a Dask "
        "configuration YAML with distributed.comm.tls.ca-file, client.cert and client.key (or "
        "set them in the Dask configuration))")
    assert not (dataset / "derivatives" / "gliopet" / "preprocess").exists()


def test_security_is_built_from_the_given_files(tmp_path):
    path = _security_file(tmp_path)
    security = scheduler_security("tls://scheduler:8786", path)
    assert security.require_encryption is True
    assert security.tls_ca_file == str(tmp_path / "ca.pem")
    assert security.tls_client_cert == str(tmp_path / "client.pem")
    assert security.tls_client_key == str(tmp_path / "client-key.pem")


def test_security_from_the_dask_configuration(tmp_path):
    for name in ("ca.pem", "both.pem"):
        (tmp_path / name).write_text("PEM")
    with dask.config.set({**NO_TLS, "distributed.comm.tls.ca-file": str(tmp_path / "ca.pem"),
                          "distributed.comm.tls.client.cert": str(tmp_path / "both.pem")}):
        security = scheduler_security("tls://scheduler:8786")
    assert security.tls_ca_file == str(tmp_path / "ca.pem")
    assert security.tls_client_cert == str(tmp_path / "both.pem")
    assert scheduler_security("tcp://scheduler:8786") is None  # plain: no security object


def test_bad_security_settings_are_input_errors(tmp_path, dataset):
    missing = _security_file(tmp_path, touch=False)
    with pytest.raises(InputError, match="TLS certificate or key file not found") as info:
        scheduler_security("tls://scheduler:8786", missing)
    assert str(tmp_path / "ca.pem") in info.value.one_line()
    with pytest.raises(InputError, match="Dask security file not found"):
        scheduler_security("tls://scheduler:8786", tmp_path / "nowhere.yaml")
    (tmp_path / "empty.yaml").write_text("distributed: {}\n")
    with pytest.raises(InputError, match="no distributed.comm.tls setting"):
        scheduler_security("tls://scheduler:8786", tmp_path / "empty.yaml")
    (tmp_path / "broken.yaml").write_text("distributed: [\n")
    with pytest.raises(InputError, match="not a readable YAML file"):
        scheduler_security("tls://scheduler:8786", tmp_path / "broken.yaml")
    with pytest.raises(InputError, match="--dask-security needs a tls:// scheduler address"):
        scheduler_security("tcp://scheduler:8786", _security_file(tmp_path))
    with pytest.raises(InputError, match="--dask-security is given without --dask-scheduler"):
        run_stage(FrameCountStage(), dataset, dask_security=_security_file(tmp_path))


def test_sessions_run_on_a_tls_cluster(tmp_path, dataset):
    from distributed import LocalCluster
    from distributed.security import Security

    pem = self_signed(tmp_path)
    if pem is None:
        pytest.skip("openssl is not installed")
    cert, key = map(str, pem)
    server = Security(require_encryption=True, tls_ca_file=cert, tls_scheduler_cert=cert,
                      tls_scheduler_key=key, tls_worker_cert=cert, tls_worker_key=key,
                      tls_client_cert=cert, tls_client_key=key)
    path = _security_file(tmp_path, ca="cert.pem", cert="cert.pem", key="key.pem", touch=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls",
                      security=server, dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tls://")
        run = run_stage(FrameCountStage(), dataset, dask_scheduler=cluster.scheduler_address,
                        dask_security=path)
    assert [o.key for o in run.outcomes] == ["sub-01_ses-diagnosis", "sub-02_ses-diagnosis"]
    assert all(o.ok for o in run.outcomes) and TOY.provenance(dataset).is_file()


def test_a_scheduler_of_another_ca_or_scheme_is_an_input_error(tmp_path, dataset):
    from distributed import LocalCluster
    from distributed.security import Security

    (tmp_path / "ours").mkdir()
    (tmp_path / "theirs").mkdir()
    ours, theirs = self_signed(tmp_path / "ours"), self_signed(tmp_path / "theirs")
    if ours is None:
        pytest.skip("openssl is not installed")
    cert, key = map(str, theirs)
    server = Security(require_encryption=True, tls_ca_file=cert, tls_scheduler_cert=cert,
                      tls_scheduler_key=key, tls_worker_cert=cert, tls_worker_key=key,
                      tls_client_cert=cert, tls_client_key=key)
    path = _security_file(tmp_path, ca="ours/cert.pem", cert="ours/cert.pem", key="ours/key.pem",
                          touch=False)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tls",
                      security=server, dashboard_address=None) as cluster:
        with pytest.raises(InputError, match="cannot connect to the Dask scheduler .*TLS"):
            run_stage(FrameCountStage(), dataset, dask_scheduler=cluster.scheduler_address,
                      dask_security=path)
    with pytest.raises(InputError, match="unknown address scheme 'foo'"):
        run_stage(FrameCountStage(), dataset, dask_scheduler="foo://scheduler:8786")
