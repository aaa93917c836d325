"""Provenance written next to every output: resolved configuration, versions, input hashes.

Modelled on fMRIPrep's ``dataset_description.json`` ``GeneratedBy`` and per-run settings.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import platform
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from gliopet import DISCLAIMER, __version__
from gliopet.atomic import write_json

MAIN_DEPENDENCIES = (
    "numpy", "scipy", "pandas", "nibabel", "SimpleITK", "nilearn", "pydicom", "highdicom",
    "torch", "scikit-learn", "pydantic",
)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def dependency_versions(names: Iterable[str] = MAIN_DEPENDENCIES) -> dict[str, str]:
    versions = {"python": platform.python_version(), "gliopet": __version__}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def generated_by(description: str = "") -> list[dict[str, Any]]:
    """BIDS ``GeneratedBy`` entry for derivatives written by gliopet."""
    return [{
        "Name": "gliopet",
        "Version": __version__,
        "Description": description or DISCLAIMER,
        "CodeURL": "https://github.com/gliopet/gliopet",
    }]


def provenance_record(
    *,
    command: str,
    config: dict[str, Any] | None = None,
    inputs: Iterable[str | Path] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Build the provenance dictionary (see `write_provenance`)."""
    hashes = {}
    for path in inputs:
        path = Path(path)
        if path.is_file():
            hashes[str(path)] = sha256_file(path)
    record = {
        "gliopet_version": __version__,
        "command": command,
        "argv": sys.argv,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "versions": dependency_versions(),
        "config": config or {},
        "inputs_sha256": hashes,
        "disclaimer": DISCLAIMER,
    }
    if extra:
        record.update(extra)
    return record


def write_provenance(out_dir: str | Path, **kwargs: Any) -> Path:
    """Write ``provenance.json`` into `out_dir` (atomically) and return its path.

    Keyword arguments are those of `provenance_record`.
    """
    return write_json(Path(out_dir) / "provenance.json", provenance_record(**kwargs))
