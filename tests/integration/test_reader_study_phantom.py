"""A reader study made from a real chain: `gliopet simulate --profile tiny`, `preprocess`,
`quantify`, then `gliopet reader create-study` and one reading in the web application."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import nibabel as nib
import pytest
from fastapi.testclient import TestClient

from support.cli import run_cli
from support.reader_study import log_in, read_case

pytestmark = pytest.mark.slow


def test_study_from_the_tiny_phantom(tmp_path: Path) -> None:
    bids = tmp_path / "bids"
    for args in (("simulate", bids, "--subjects", 1, "--profile", "tiny", "--sites", "siteA",
                  "--scenario", "recurrence", "--seed", 1),
                 ("preprocess", bids), ("quantify", bids)):
        code, _, err = run_cli(*args)
        assert code == 0, err
    predictions = tmp_path / "predictions.tsv"
    predictions.write_text("subject\tsession\tprobability\n001\trecurrence\t0.7\n")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    code, out, err = run_cli("reader", "create-study", bids, "--predictions", predictions,
                             "--name", "phantom", "--database", url, "--n-readers", 1,
                             "--washout-days", 0)
    assert code == 0, err
    password = re.search(r"reader01\tn/a\treader\t(\S+)", out).group(1)
    folder = next((tmp_path / "study.db-images" / "phantom").iterdir())
    frames = nib.load(folder / "frames.nii.gz")
    assert frames.shape[-1] == 27 and nib.load(folder / "pet.nii.gz").shape == frames.shape[:3]
    tacs = json.loads((folder / "tac.json").read_text())
    assert len(tacs["minutes"]) == 27 and "background" in tacs["curves"]
    assert all(len(curve) == 27 for curve in tacs["curves"].values())

    from gliopet.reader.app import create_app
    client = TestClient(create_app(url))
    csrf = log_in(client, "reader01", password)
    code_ = folder.name
    page = client.get(f"/case/{code_}").text
    assert "<polyline" in page and 'data-frames="/images/' in page
    bodies = [page.encode()] + [gzip.decompress(client.get(f"/images/{code_}/{name}").content)
                                for name in ("pet.nii.gz", "mri.nii.gz", "frames.nii.gz")]
    for body in bodies:
        assert b"sub-001" not in body and b"siteA" not in body and b"recurrence" not in body
    assert read_case(client, code_, csrf).status_code == 303
