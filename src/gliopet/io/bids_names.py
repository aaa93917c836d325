"""BIDS and BIDS-derivatives file names built from entities.

Entity order follows the BIDS specification (sub, ses, task, trc, ce, rec, run, space, desc,
stat, ...), so names built here are the ones other BIDS tools expect::

    >>> bids_name("01", "diagnosis", "pet", trc="FDOPA")
    'sub-01_ses-diagnosis_trc-FDOPA_pet.nii.gz'
    >>> bids_name("01", "diagnosis", "mask", space="pet", desc="brain")
    'sub-01_ses-diagnosis_space-pet_desc-brain_mask.nii.gz'
"""

from __future__ import annotations

import re
from pathlib import Path

ENTITY_ORDER = ("task", "trc", "ce", "acq", "rec", "run", "from", "to", "mode", "space",
                "label", "hemi", "res", "desc", "stat", "recording")
_LABEL = re.compile(r"^[A-Za-z0-9]+$")

#: BIDS datatype folder of each raw suffix.
DATATYPE = {"pet": "pet", "T1w": "anat", "T2w": "anat", "FLAIR": "anat", "blood": "pet"}


def is_label(value: str) -> bool:
    """True when `value` is a valid BIDS label (letters and digits only)."""
    return _LABEL.fullmatch(str(value)) is not None


def check_label(value: str, entity: str) -> str:
    """Return `value` if it is a valid BIDS label (letters and digits only)."""
    if not is_label(value):
        raise ValueError(f"BIDS {entity} label must be alphanumeric, got {value!r}")
    return str(value)


def bids_name(subject: str, session: str | None, suffix: str, ext: str = ".nii.gz",
              **entities: str | None) -> str:
    """File name ``sub-<s>[_ses-<t>][_<entity>-<v>...]_<suffix><ext>``.

    Entities with value None are left out. ``from_`` may be used for the reserved word.
    Unknown entities are refused so that a typo does not produce a non-BIDS name.
    """
    if "from_" in entities:
        entities["from"] = entities.pop("from_")
    unknown = set(entities) - set(ENTITY_ORDER)
    if unknown:
        raise ValueError(f"unknown BIDS entities {sorted(unknown)}; known: {ENTITY_ORDER}")
    parts = [f"sub-{check_label(subject, 'subject')}"]
    if session:
        parts.append(f"ses-{check_label(session, 'session')}")
    for key in ENTITY_ORDER:
        value = entities.get(key)
        if value is not None:
            parts.append(f"{key}-{check_label(value, key)}")
    return "_".join(parts) + f"_{suffix}{ext}"


def session_dir(root: str | Path, subject: str, session: str | None) -> Path:
    """``root/sub-<s>[/ses-<t>]``."""
    path = Path(root) / f"sub-{subject}"
    return path / f"ses-{session}" if session else path


def raw_path(root: str | Path, subject: str, session: str | None, suffix: str,
             ext: str = ".nii.gz", **entities: str | None) -> Path:
    """Path of a raw BIDS file, in its datatype folder (``pet/`` or ``anat/``)."""
    datatype = DATATYPE[suffix]
    return (
        session_dir(root, subject, session)
        / datatype
        / bids_name(subject, session, suffix, ext, **entities)
    )


def anat_entities(anat_key: str) -> tuple[str, dict[str, str]]:
    """Split a gliopet anatomical key (``ce-gadolinium_T1w``) into suffix and entities."""
    *pairs, suffix = anat_key.split("_")
    entities = dict(pair.split("-", 1) for pair in pairs)
    return suffix, entities


def parse_entities(name: str) -> dict[str, str]:
    """Entities of a BIDS file name, plus ``suffix`` (``sub-01_ses-a_pet.nii.gz`` -> {...})."""
    stem = Path(name).name.split(".", 1)[0]
    *pairs, suffix = stem.split("_")
    parsed = {}
    for pair in pairs:
        if "-" in pair:
            key, value = pair.split("-", 1)
            parsed[key] = value
    parsed["suffix"] = suffix
    return parsed
