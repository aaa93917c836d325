"""Atomic writes: write to a temporary name next to the target, then rename.

A reader never sees a half-written file, and an interrupted run leaves the previous output
intact. `staged_directory` does the same for a whole output folder.

Names. A temporary file is ``.<name>.<token>.tmp<suffixes>`` and a staging folder
``.<name>.<token>.partial`` (``.<name>.<token>.old`` while it replaces an older folder), where
``<token>`` is the 8-character random part of `tempfile` ([a-z0-9_]). While its writer runs, each
holds an exclusive `fcntl.flock` lock, which the system releases when the writer ends, however it
ends (``kill -9`` included). `remove_stale` deletes what an interrupted run left behind: entries
with exactly these names that nobody holds locked, never any other hidden file.

Permissions. Files and folders get the modes that ``open`` and ``mkdir`` would give them under
the process umask (files ``0o666 & ~umask``, folders ``0o777 & ~umask``), so collaborators can
read a shared derivatives folder when the umask allows it. ``private=True`` keeps a file readable
by its owner only (``0o600``), for files holding identifiers (the id-map of ``import-dicom``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: no locks, so nothing is ever deemed stale)
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import nibabel as nib
    import pandas as pd

#: The random part `tempfile` puts in a name: 8 characters of [a-z0-9_].
_TOKEN = r"[a-z0-9_]{8}"
#: A staging folder of `staged_directory` (``.partial``) or the older folder it replaces
#: (``.old``); ``name`` is the target's name.
STAGING_FOLDER = re.compile(rf"^\.(?P<name>.+)\.{_TOKEN}\.(partial|old)$")
#: A temporary file of `atomic_path`; ``name`` is the target's name.
TEMPORARY_FILE = re.compile(rf"^\.(?P<name>.+)\.{_TOKEN}\.tmp(\.[^/]*)?$")
_UMASK_LOCK = threading.Lock()


# ---------------------------------------------------------------------------- permissions
def current_umask() -> int:
    """The process umask (read from ``/proc/self/status`` where it is, else set and restored)."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:  # the brief change is to a stricter mask, never a looser one
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def file_mode(*, private: bool = False) -> int:
    """Mode of a new output file: ``0o666 & ~umask``, or ``0o600`` when `private`."""
    return 0o600 if private else 0o666 & ~current_umask()


def folder_mode() -> int:
    """Mode of a new output folder: ``0o777 & ~umask``."""
    return 0o777 & ~current_umask()


# ---------------------------------------------------------------------------- locks
def _lock(path: Path) -> int | None:
    """An open descriptor of `path` holding an exclusive lock, or None when another process
    holds it (or the system has no locks)."""
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:  # held by a running writer (or locks unsupported here: leave it alone)
        os.close(fd)
        return None
    return fd


def _hold(fd: int) -> None:
    """Lock an open descriptor of the caller's own new file or folder."""
    if fcntl is not None:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


# ---------------------------------------------------------------------------- files
@contextlib.contextmanager
def atomic_path(target: str | Path, *, private: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside `target`; rename it onto `target` on success.

    The temporary name keeps the target's suffixes (``.nii.gz``, ``.dcm``) so that writers
    which pick a format from the extension still work. The file gets `file_mode` (`private`:
    owner only).
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(target.suffixes)
    fd, name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent
    )
    tmp = Path(name)
    try:
        _hold(fd)
        yield tmp
        if not private:
            os.chmod(tmp, file_mode())
        os.replace(tmp, target)
    finally:
        os.close(fd)
        if tmp.exists():
            tmp.unlink()


def write_text(target: str | Path, text: str, *, private: bool = False) -> Path:
    """Write `text` (UTF-8) to `target` atomically (`private`: readable by the owner only)."""
    target = Path(target)
    with atomic_path(target, private=private) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return target


def write_bytes(target: str | Path, data: bytes, *, private: bool = False) -> Path:
    """Write `data` to `target` atomically (`private`: readable by the owner only)."""
    target = Path(target)
    with atomic_path(target, private=private) as tmp:
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


def write_json(target: str | Path, obj: Any, *, private: bool = False) -> Path:
    """Write `obj` as indented JSON (numpy values converted) atomically (`private`: readable by
    the owner only)."""
    text = json.dumps(obj, indent=2, default=_json_default) + "\n"
    return write_text(target, text, private=private)


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


# ---------------------------------------------------------------------------- folders
def _make_parents(folder: Path) -> list[Path]:
    """Create `folder` and its missing parents; return the ones created, deepest first."""
    missing = []
    probe = folder
    while not probe.exists() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    folder.mkdir(parents=True, exist_ok=True)
    return missing


def _remove_if_empty(folders: Iterable[Path]) -> None:
    """Remove `folders` (deepest first) while they are empty."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:
            return


def _new_staging(target: Path) -> tuple[Path, list[Path]]:
    """A staging folder beside `target` (`folder_mode`) and the parents made for it."""
    for _ in range(5):  # a concurrent failing run may remove a parent it made: make it again
        created = _make_parents(target.parent)
        try:
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial",
                                            dir=target.parent))
        except FileNotFoundError:
            continue
        os.chmod(staging, folder_mode())
        return staging, created
    raise FileNotFoundError(f"cannot create a staging folder in {target.parent}")


@contextlib.contextmanager
def staged_directory(target: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Build a folder under a temporary name beside `target`, then move it into place.

    If the body raises, the temporary folder is removed, and so are the parents of `target`
    made for it when they are left empty; `target` is untouched.
    With ``overwrite=False`` an existing non-empty `target` is left alone and the
    caller must have refused earlier; with ``overwrite=True`` it is replaced only
    after the new one is complete. Stale staging folders of `target` (interrupted runs) are
    removed first; the new one is locked while the body runs (module docstring), so
    `remove_stale` never removes a folder in use.
    """
    target = Path(target).absolute()
    remove_stale(target.parent, names=[target.name])
    staging, created = _new_staging(target)
    lock = os.open(staging, os.O_RDONLY)
    try:
        _hold(lock)
        try:
            yield staging
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            _remove_if_empty(created)
            raise
        _move_into_place(staging, target, overwrite)
    finally:
        os.close(lock)


def _move_into_place(staging: Path, target: Path, overwrite: bool) -> None:
    if not target.exists():
        os.replace(staging, target)
        return
    if not overwrite and any(target.iterdir()):
        shutil.rmtree(staging, ignore_errors=True)
        raise FileExistsError(f"{target} exists and is not empty")
    old = staging.with_name(staging.name.removesuffix(".partial") + ".old")
    os.replace(target, old)
    os.replace(staging, target)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------- stale staging
def _claim(entry: Path, names: list[str] | None) -> int | None:
    """A lock on `entry` when it is stale (`is_stale`), else None."""
    pattern = STAGING_FOLDER if entry.is_dir() else TEMPORARY_FILE
    match = pattern.match(entry.name)
    if match is None or entry.is_symlink() or (names is not None and match["name"] not in names):
        return None
    return _lock(entry)


def is_stale(entry: Path, names: Iterable[str] | None = None) -> bool:
    """True when `entry` is a staging folder or temporary file of an interrupted writer: named
    exactly as `staged_directory` / `atomic_path` name them (for a target in `names`, when
    given), not a symbolic link, and locked by no running writer."""
    fd = _claim(entry, None if names is None else list(names))
    if fd is None:
        return False
    os.close(fd)
    return True


def remove_stale(folder: str | Path, *, names: Iterable[str] | None = None,
                 depth: int = 0) -> list[Path]:
    """Remove the staging folders and temporary files that interrupted runs left in `folder`
    (and, `depth` levels down, in its sub-folders that are not hidden); return them.

    Only entries named as gliopet names them and locked by no running writer go (`is_stale`);
    `names` restricts them to the given targets' names (``sub-001``, ``qc.tsv``).
    """
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return []
    names = None if names is None else list(names)
    removed = []
    for entry in sorted(folder.iterdir()):
        if not entry.name.startswith("."):
            if depth > 0 and entry.is_dir() and not entry.is_symlink():
                removed += remove_stale(entry, names=names, depth=depth - 1)
            continue
        fd = _claim(entry, names)
        if fd is None:
            continue
        try:  # remove it while holding its lock
            if entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
        finally:
            os.close(fd)
        removed.append(entry)
    return removed
