"""quant.tsv and cohort.tsv read only finished session folders (issue 10, defect 3: a staging
folder copied beside a finished session used to give the session twice)."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from gliopet.io import derivatives as d
from gliopet.quant.tables import write_tables


def _session(root, subject: str, session: str, suvmax: float, *, provenance: bool = True):
    folder = d.QUANT.session_dir(root, (subject, session))
    folder.mkdir(parents=True)
    row = {"participant_id": f"sub-{subject}", "session_id": f"ses-{session}", "SUVmax": suvmax}
    (folder / d.QUANT_ROW.name(subject, session)).write_text(json.dumps(row))
    if provenance:
        (folder / d.PROVENANCE).write_text("{}")
    return folder


def test_staging_copies_and_unfinished_sessions_are_not_rows(tmp_path):
    root = tmp_path / "bids"
    root.mkdir()
    pd.DataFrame({"participant_id": ["sub-001", "sub-002"], "weight": [70, 80]}).to_csv(
        root / "participants.tsv", sep="\t", index=False)
    done = _session(root, "001", "diagnosis", 3.0)
    _session(root, "002", "diagnosis", 9.0, provenance=False)   # killed before provenance
    shutil.copytree(done, done.with_name(".ses-diagnosis.abc.partial"))   # the case
    shutil.copytree(done, done.with_name(".ses-diagnosis.k3j9x0a2.partial"))
    shutil.copytree(done.parent, done.parent.with_name(".sub-001.k3j9x0a2.partial"))
    quant_path, cohort_path = write_tables(root)
    for path in (quant_path, cohort_path):
        table = pd.read_csv(path, sep="\t")
        assert table["participant_id"].tolist() == ["sub-001"], path
        assert table["SUVmax"].tolist() == [3.0]
