"""Atomic writes: write to a temporary name next to the target, then rename.

A reader never sees a half-written file, and an interrupted run leaves the previous output
intact. `staged_directory` does the same for a whole output folder.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import nibabel as nib
    import pandas as pd


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success.

    The temporary name keeps the target's suffixes (``.nii.gz``, ``.dcm``) so that writers
    which pick a format from the extension still work.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(target: str | Path, text: str) -> Path:
    """Write `text` (UTF-8) to `target` atomically."""
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_bytes(target: str | Path, data: bytes) -> Path:
    """Write `data` to `target` atomically."""
    target = Path(target)
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return target


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serialisable")


def write_json(target: str | Path, obj: Any) -> Path:
    """Write `obj` as indented JSON (numpy values converted) atomically."""
    return write_text(target, json.dumps(obj, indent=2, default=_json_default) + "\n")


def write_nifti(target: str | Path, img: nib.spatialimages.SpatialImage) -> Path:
    """Save a nibabel image to `target` atomically."""
    import nibabel as nib

    target = Path(target)
    with atomic_path(target) as tmp:
        nib.save(img, str(tmp))
    return target


def write_tsv(target: str | Path, frame: pd.DataFrame) -> Path:
    """Write a pandas DataFrame as a BIDS TSV (tab-separated, ``n/a`` for missing) atomically."""
    target = Path(target)
    with atomic_path(target) as tmp:
        frame.to_csv(tmp, sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    return target


@contextlib.contextmanager
def staged_directory(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside `target`, then move it into place.

    If the body raises, the temporary folder is removed and `target` is untouched.
    With ``overwrite=False`` an existing non-empty `target` is left alone and the
    caller must have refused earlier; with ``overwrite=True`` it is replaced only
    after the new one is complete.
    """
    target = Path(target).absolute()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    )
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if target.exists():
        if not overwrite and any(target.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
            raise FileExistsError(f"{target} exists and is not empty")
        old = target.with_name(f".{target.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)
