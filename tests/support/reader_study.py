"""A minimal dataset for a reader study: the derivative files `gliopet reader create-study`
reads, written synthetically with the contract's names (no preprocessing run).

Per session: static PET (preprocess STATIC_PET and quant STATIC_SUV), contrast T1w and FLAIR on
the PET grid (MRI_ON_PET), motion-corrected frames (MC_PET, 4 frames), VOI TACs (VOI_TACS);
``participants.tsv`` and ``sub-<s>_sessions.tsv`` with the ``outcome`` label; a predictions
table like `gliopet predict` writes. The NIfTI headers carry a fake patient name and the subject
label in their description, so tests can check that none of it reaches the browser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import pandas as pd

from gliopet.io import derivatives as d

PATIENT_NAME = "DOE^JOHNATHAN"
SHAPE = (20, 20, 16)


@dataclass
class ReaderDataset:
    """What `make_reader_dataset` wrote."""

    root: Path
    predictions: Path
    sessions: list[tuple[str, str]]
    truth: dict[tuple[str, str], int]


def _image(data: np.ndarray, path: Path, subject: str) -> None:
    img = nib.Nifti1Image(data.astype(np.float32), np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header["descrip"] = f"{PATIENT_NAME} sub-{subject}".encode()[:79]
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(img, str(path))


def _blob(rng: np.random.Generator, hot: float) -> np.ndarray:
    z, y, x = np.meshgrid(*[np.arange(n) for n in SHAPE], indexing="ij")
    centre = np.array(SHAPE) / 2
    r2 = (z - centre[0]) ** 2 + (y - centre[1]) ** 2 + (x - centre[2]) ** 2
    brain = (r2 < 49).astype(float) * 1.0
    tumour = ((z - 8) ** 2 + (y - 12) ** 2 + (x - 7) ** 2 < 6).astype(float) * hot
    return brain + tumour + rng.normal(0, 0.05, SHAPE)


def _session(root: Path, subject: str, session: str, rng: np.random.Generator,
             hot: float) -> None:
    ids = (subject, session)
    static = _blob(rng, hot)
    _image(static, d.STATIC_PET.path(root, ids, tracer="FDOPA"), subject)
    _image(static, d.STATIC_SUV.path(root, ids, tracer="FDOPA"), subject)
    _image(static * 0 + _blob(rng, 0.3), d.MRI_ON_PET.path(root, ids, suffix="T1w",
                                                        ce="gadolinium"), subject)
    _image(_blob(rng, 0.6), d.MRI_ON_PET.path(root, ids, suffix="FLAIR", ce=None), subject)
    frames = np.stack([static * f for f in (0.3, 0.8, 1.0, 0.9)], axis=-1)
    _image(frames, d.MC_PET.path(root, ids, tracer="FDOPA"), subject)
    tacs = pd.DataFrame({"frame_start_s": [0, 120, 600, 1200],
                         "frame_duration_s": [120, 480, 600, 600],
                         "mid_time_min": [1.0, 5.0, 15.0, 25.0],
                         "tumour": [0.5, 1.6, 2.0, 1.8], "background": [0.3, 0.8, 1.0, 0.9]})
    path = d.VOI_TACS.path(root, ids, tracer="FDOPA")
    tacs.to_csv(path, sep="\t", index=False)


def make_reader_dataset(root: Path, n_cases: int = 6, seed: int = 3) -> ReaderDataset:
    """A dataset of `n_cases` recurrence sessions (half progression) with predictions."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text('{"Name": "reader test", '
                                                   '"BIDSVersion": "1.9.0"}')
    sessions, truth, rows = [], {}, []
    participants = []
    for i in range(n_cases):
        subject, session = f"P{9001 + i}", "recurrence"
        outcome = "progression" if i % 2 == 0 else "treatment_change"
        _session(root, subject, session, rng, hot=2.0 if i % 2 == 0 else 0.8)
        (root / f"sub-{subject}").mkdir(exist_ok=True)
        pd.DataFrame({"session_id": [f"ses-{session}"], "outcome": [outcome]}).to_csv(
            root / f"sub-{subject}" / f"sub-{subject}_sessions.tsv", sep="\t", index=False)
        participants.append({"participant_id": f"sub-{subject}", "sex": "M"})
        sessions.append((subject, session))
        truth[(subject, session)] = int(i % 2 == 0)
        rows.append({"participant_id": f"sub-{subject}", "session_id": f"ses-{session}",
                     "site": "A", "model": "rules-tsr", "family": "rules",
                     "probability": round(0.8 - 0.5 * (i % 2) + 0.01 * i, 3), "threshold": 0.5})
    pd.DataFrame(participants).to_csv(root / "participants.tsv", sep="\t", index=False)
    predictions = root / "predictions.tsv"
    pd.DataFrame(rows).to_csv(predictions, sep="\t", index=False)
    saliency = root / "saliency"
    saliency.mkdir()
    table = pd.read_csv(predictions, sep="\t")
    table["saliency"] = [f"saliency/s{i}.nii.gz" for i in range(n_cases)]
    for i, (subject, _) in enumerate(sessions):
        _image(_blob(rng, 1.0), saliency / f"s{i}.nii.gz", subject)
    table.to_csv(predictions, sep="\t", index=False)
    return ReaderDataset(root, predictions, sessions, truth)


@dataclass
class MadeStudy:
    """A created study: its dataset, database URL and accounts (username -> password)."""

    dataset: ReaderDataset
    url: str
    passwords: dict[str, str]
    image_dir: Path


def make_study(tmp: Path, *, n_cases: int = 6, **options: object) -> MadeStudy:
    """Create a study named ``pilot`` in ``tmp/study.db`` (no wash-out unless given)."""
    from gliopet.reader.setup import StudyOptions, create_study

    dataset = make_reader_dataset(tmp / "bids", n_cases=n_cases)
    url = f"sqlite:///{tmp / 'study.db'}"
    opts = StudyOptions(dataset.root, dataset.predictions, "pilot", url,
                        **{"seed": 7, "washout_days": 0.0, **options})
    summary = create_study(opts)
    return MadeStudy(dataset, url, {a.username: a.password for a in summary.accounts},
                     summary.image_dir)


_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token of the first form of an HTML page."""
    found = _CSRF.search(page)
    assert found, "no CSRF field on the page"
    return found.group(1)


def log_in(client: Any, username: str, password: str) -> str:
    """Log a TestClient in; returns the session's CSRF token (from the worklist page)."""
    token = csrf_of(client.get("/login").text)
    response = client.post("/login", data={"username": username, "password": password,
                                           "csrf": token}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return csrf_of(client.get(response.headers["location"]).text)


def read_case(client: Any, code: str, csrf: str, confidence: int = 70,
              diagnosis: str = "progression", comments: str = "") -> Any:
    """Open a case page and submit an answer; returns the submit response (not followed)."""
    assert client.get(f"/case/{code}").status_code == 200
    return client.post(f"/case/{code}", data={"diagnosis": diagnosis, "confidence": confidence,
                                             "comments": comments, "csrf": csrf},
                       follow_redirects=False)
