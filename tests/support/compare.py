"""Compare two output trees of gliopet file by file (reproducibility and fault-injection tests).

Two runs of the same stage on the same input must give the same files. What may differ, and is
left out of the comparison (nothing else is):

* ``created`` and ``argv`` of every ``provenance.json`` (the run's time stamp and command line);
* wall-clock durations: the ``seconds`` and ``time_*_s`` fields of preprocessing's QC rows (JSON
  and ``qc.tsv``);
* the dataset root itself, where a file spells it (provenance keys the input hashes by path):
  each tree's root is replaced by ``<root>`` before comparing, so two copies of a dataset in
  different folders compare equal.

NIfTI files are compared by bytes (gzip header included); `tree_differences` reports, for a
NIfTI that differs, whether its voxel data differ too.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

#: Fields that hold the time of a run, not its result.
TIME_FIELDS = frozenset({"created", "argv"})
#: Columns (TSV) or keys (JSON) that hold durations in s.
DURATION = re.compile(r"^(seconds|time_.*_s)$")


def files(root: Path) -> list[str]:
    """Relative paths (POSIX) of every file under `root`, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def _drop_times(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _drop_times(v) for k, v in obj.items()
                if k not in TIME_FIELDS and not DURATION.match(str(k))}
    if isinstance(obj, list):
        return [_drop_times(v) for v in obj]
    return obj


def normalised(path: Path, root: Path, dataset: Path) -> object:
    """The content of `path` with run times and the dataset root left out (module docstring)."""
    if path.name.endswith(".nii.gz") or path.suffix in (".nii", ".png", ".dcm", ""):
        return path.read_bytes()
    text = path.read_text(encoding="utf-8").replace(str(dataset), "<root>")
    text = text.replace(str(root), "<root>")
    if path.suffix == ".json":
        return _drop_times(json.loads(text))
    if path.suffix == ".tsv":
        frame = pd.read_csv(io.StringIO(text), sep="\t", dtype=str, keep_default_na=False)
        return frame.drop(columns=[c for c in frame.columns if DURATION.match(c)]).to_csv()
    return text


def tree_differences(a: Path, b: Path, *, dataset_a: Path | None = None,
                     dataset_b: Path | None = None) -> list[str]:
    """Differences between the trees `a` and `b`: one line per missing, extra or different
    file ("(voxels differ)" or "(header only)" for a NIfTI). Empty when they agree."""
    dataset_a, dataset_b = dataset_a or a, dataset_b or b
    names_a, names_b = files(a), files(b)
    lines = [f"only in the first: {n}" for n in sorted(set(names_a) - set(names_b))]
    lines += [f"only in the second: {n}" for n in sorted(set(names_b) - set(names_a))]
    for name in sorted(set(names_a) & set(names_b)):
        left = normalised(a / name, a, dataset_a)
        right = normalised(b / name, b, dataset_b)
        if left != right:
            lines.append(f"differs: {name}{_nifti_note(a / name, b / name)}")
    return lines


def _nifti_note(left: Path, right: Path) -> str:
    if not left.name.endswith((".nii.gz", ".nii")):
        return ""
    data_l = np.asanyarray(nib.load(left).dataobj)
    data_r = np.asanyarray(nib.load(right).dataobj)
    same = data_l.shape == data_r.shape and np.array_equal(data_l, data_r, equal_nan=True)
    return " (header only)" if same else " (voxels differ)"
