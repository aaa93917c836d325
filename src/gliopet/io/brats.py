"""`gliopet import-brats`: a public MRI-only collection in the BraTS folder layout to BIDS.

Layout read (one folder per case; ``.nii.gz`` or ``.nii``)::

    SRC/<case>/<case>_t1.nii.gz  _t1ce  _t2  _flair  _seg        (BraTS 2018-2021)
    SRC/<case>/<case>-t1n.nii.gz -t1c   -t2w -t2f    -seg        (BraTS 2023)

Written (a new BIDS dataset, built under a temporary name and moved into place when complete)::

    BIDS_DIR/sub-<label>/ses-<session>/anat/sub-<label>_ses-<session>_T1w.nii.gz
        ..._ce-gadolinium_T1w, _T2w, _FLAIR                   the images, voxels and header as given
    BIDS_DIR/derivatives/brats/sub-<label>/ses-<session>/anat/..._desc-tumour_dseg.nii.gz (+ JSON)
    BIDS_DIR/participants.tsv (brats_case: the case folder name), sub-<label>_sessions.tsv (site)

The subject label is the case name without its non-alphanumeric characters
(``BraTS20_Training_001`` -> ``BraTS20Training001``). BraTS images are skull-stripped and
co-registered on one 1 mm grid; the sessions have no PET (MRI-only sessions: preprocessing takes
them to the learning grid, quantification skips them). The safety rules are those of
`gliopet import-dicom`: BIDS_DIR must be new or empty (``overwrite``: a dataset gliopet wrote,
replaced only once the new one is complete), may neither hold SRC nor lie inside it, and bad
input is refused before anything is written.
"""

from __future__ import annotations

import gzip
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from gliopet.errors import InputError, ParameterError
from gliopet.io import derivatives as d
from gliopet.io.bids_names import anat_entities, is_label, raw_path

#: File-name tag of each BraTS image -> gliopet anatomical key (``seg``: the tumour labels).
TAGS = {"t1": "T1w", "t1ce": "ce-gadolinium_T1w", "t2": "T2w", "flair": "FLAIR", "seg": "seg",
        "t1n": "T1w", "t1c": "ce-gadolinium_T1w", "t2w": "T2w", "t2f": "FLAIR"}
#: Legend of the BraTS labels (sidecar of the tumour dseg).
LEGEND = {"0": "background", "1": "necrotic and non-enhancing tumour core", "2": "peritumoural "
          "oedema", "3": "enhancing tumour (BraTS 2023)", "4": "enhancing tumour (BraTS 2018-2021)"}
_NAME = re.compile(r"^(?P<case>.+?)[_-](?P<tag>t1ce|t1n|t1c|t2w|t2f|t1|t2|flair|seg)"
                   r"\.nii(\.gz)?$", re.IGNORECASE)


@dataclass
class BratsCase:
    """One case folder: its name, BIDS label and images (gliopet key -> file)."""

    name: str
    label: str
    images: dict[str, Path] = field(default_factory=dict)


@dataclass
class BratsReport:
    """What `import_brats` wrote: the cases, the files (relative to BIDS_DIR) and what it left."""

    bids_dir: Path
    cases: list[BratsCase] = field(default_factory=list)
    written: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


def import_brats(src: str | Path, bids_dir: str | Path, *, session: str = "diagnosis",
                 site: str = "brats", overwrite: bool = False) -> BratsReport:
    """Bring every case folder of `src` into a new BIDS dataset `bids_dir` (module docstring).

    Parameters
    ----------
    src : path
        Folder of case folders in the BraTS layout.
    bids_dir : path
        The BIDS dataset to create.
    session : str
        Session label of every case (letters and digits).
    site : str
        The ``site`` column of the sessions files.
    overwrite : bool
        Replace an existing `bids_dir` that gliopet wrote, once the new one is complete.

    Raises
    ------
    InputError
        Unsafe paths, no case, a case without an image, files that are not 3-D NIfTI, images of
        one case on different grids, or two cases with the same label; nothing is written then.
    """
    from gliopet.atomic import staged_directory
    from gliopet.io.dicom import importer

    src, bids_dir = Path(src).absolute(), Path(bids_dir).absolute()
    _check_paths(src, bids_dir, overwrite, session)
    report = BratsReport(bids_dir)
    report.cases = scan_cases(src, report.ignored)
    for case in report.cases:
        _check_case(case)
    with staged_directory(bids_dir, overwrite=overwrite) as stage:
        for case in report.cases:
            report.written += _write_case(stage, case, session)
        _write_tables(stage, report.cases, session, site)
        _write_descriptions(stage, len(report.cases))
        importer._check_target_unchanged(bids_dir, overwrite)  # the same rule as import-dicom
    report.written.sort()
    return report


def _check_paths(src: Path, bids_dir: Path, overwrite: bool, session: str) -> None:
    """import-dicom's rules: no nesting of SRC and BIDS_DIR, a new or empty target."""
    from gliopet.io.dicom import importer

    if not is_label(session):
        raise ParameterError("session", session, "letters and digits only (e.g. diagnosis)")
    if not src.is_dir():
        raise InputError("the BraTS source folder does not exist or is not a folder", path=src,
                         fix="give the folder that holds one folder per case")
    src_real, bids_real = src.resolve(), bids_dir.resolve()
    if _inside(bids_real, src_real):
        raise InputError("the BIDS folder lies inside the BraTS source folder", path=bids_dir,
                         fix="write the dataset outside SRC")
    if _inside(src_real, bids_real):
        raise InputError("the BraTS source folder lies inside the BIDS folder, so writing or "
                         "replacing the dataset would touch the source files", path=src,
                         fix="give a BIDS_DIR that does not hold SRC")
    importer._check_target(bids_dir, overwrite)


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def scan_cases(src: Path, ignored: list[str] | None = None) -> list[BratsCase]:
    """The case folders of `src` (sorted), with their images; files of other names go to
    `ignored` (relative paths)."""
    cases = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        case = BratsCase(folder.name, re.sub(r"[^A-Za-z0-9]", "", folder.name))
        for path in sorted(folder.iterdir()):
            match = _NAME.match(path.name)
            if not path.is_file() or match is None or match["case"] != folder.name:
                if ignored is not None:
                    ignored.append(path.relative_to(src).as_posix())
                continue
            key = TAGS[match["tag"].lower()]
            if key in case.images:
                raise InputError(f"two {match['tag']} images in case {folder.name} "
                                 f"({case.images[key].name}, {path.name})", path=folder,
                                 fix="keep one file per image")
            case.images[key] = path
        cases.append(case)
    if not any(case.images for case in cases):
        raise InputError("no BraTS case found (expected <case>/<case>_t1.nii.gz, _t1ce, _t2, "
                         "_flair, _seg or the BraTS 2023 -t1n, -t1c, -t2w, -t2f, -seg)", path=src,
                         fix="give the folder that holds one folder per case")
    labels: dict[str, str] = {}
    for case in cases:
        if not case.images:
            raise InputError(f"case folder {case.name} holds no BraTS image", path=src / case.name,
                             fix="remove the folder or add its images")
        if not case.label or case.label in labels:
            raise InputError(f"case {case.name} gives the subject label {case.label!r}"
                             + (f", as {labels[case.label]} does" if case.label in labels else ""),
                             path=src / case.name, fix="rename the case folder and its files")
        labels[case.label] = case.name
    return cases


def _check_case(case: BratsCase) -> None:
    """Every file a readable 3-D NIfTI, all on one grid; at least one MRI."""
    import numpy as np

    from gliopet.io.nifti import load_nifti, read_voxels

    if set(case.images) == {"seg"}:
        raise InputError(f"case {case.name} has a segmentation but no MRI",
                         path=case.images["seg"].parent, fix="add its images or remove the case")
    grids = {}
    for key in sorted(case.images, key=list(dict.fromkeys(TAGS.values())).index):
        path = case.images[key]
        img = load_nifti(path, ensure_ndim=(3,), canonical=False, check_size=True)
        grids[key] = (tuple(img.shape), np.asarray(img.affine))
        if key == "seg":
            labels = np.unique(read_voxels(img, path))
            unknown = sorted(set(labels.tolist()) - {float(k) for k in LEGEND})
            if unknown:
                raise InputError(f"the segmentation of case {case.name} has labels {unknown} "
                                 f"besides the BraTS labels {', '.join(LEGEND)}", path=path,
                                 fix="give the BraTS label map (0, 1, 2, 4 or 0-3)")
    first_key = next(iter(grids))
    shape, affine = grids[first_key]
    for key, (other_shape, other_affine) in grids.items():
        if other_shape != shape or not np.allclose(other_affine, affine, atol=1e-3):
            raise InputError(f"the {key} image of case {case.name} is not on the grid of its "
                             f"{first_key} image (shape {other_shape} vs {shape}); BraTS images "
                             "share one grid", path=case.images[key],
                             fix="check the case's files")


def _write_case(stage: Path, case: BratsCase, session: str) -> list[str]:
    from gliopet.atomic import write_json

    written = []
    for key, path in case.images.items():
        if key == "seg":
            target = d.BRATS_SEG.path(stage, (case.label, session))
            target.parent.mkdir(parents=True, exist_ok=True)
            write_json(d.BRATS_SEG.sidecar().path(stage, (case.label, session)),
                       {"Description": "BraTS tumour labels", "Labels": LEGEND,
                        "Sources": [f"{case.name}/{path.name}"]})
        else:
            suffix, entities = anat_entities(key)
            target = raw_path(stage, case.label, session, suffix, **entities)
        target.parent.mkdir(parents=True, exist_ok=True)
        _copy_gz(path, target)
        written.append(target.relative_to(stage).as_posix())
    return written


def _copy_gz(source: Path, target: Path) -> None:
    """Copy a ``.nii.gz`` as it is, compress a ``.nii`` (voxels and header unchanged)."""
    if source.name.lower().endswith(".gz"):
        shutil.copyfile(source, target)
        return
    with source.open("rb") as raw, gzip.open(target, "wb") as packed:
        shutil.copyfileobj(raw, packed)


def _write_tables(stage: Path, cases: list[BratsCase], session: str, site: str) -> None:
    import pandas as pd

    from gliopet.io.bids_write import write_participants, write_sessions

    write_participants(stage, pd.DataFrame({"participant_id": [f"sub-{c.label}" for c in cases],
                                            "brats_case": [c.name for c in cases]}),
                       {"brats_case": {"Description": "the case folder of the BraTS collection"}})
    for case in cases:
        write_sessions(stage, case.label, pd.DataFrame({"session_id": [f"ses-{session}"],
                                                        "site": [site]}),
                       {"site": {"Description": "acquisition site (given to import-brats)"}})


def _write_descriptions(stage: Path, n_cases: int) -> None:
    from gliopet.io.bids_write import write_dataset_description
    from gliopet.provenance import write_provenance

    write_dataset_description(stage, "BraTS-layout import (gliopet import-brats)")
    write_dataset_description(d.BRATS.root(stage), "BraTS tumour labels",
                              dataset_type="derivative")
    write_provenance(stage / "code" / "gliopet", command="gliopet import-brats",
                     extra={"argv": ["gliopet", "import-brats", "<SRC>", "<BIDS_DIR>"],
                            "cases_imported": n_cases})
