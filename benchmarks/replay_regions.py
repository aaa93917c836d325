"""Replay preprocessing's region step on a finished run, with the current code, against the truth.

Reads what ``gliopet preprocess`` saved (static PET, the PET-MRI, MRI-MRI and MRI-template
transforms, the T1w brain mask) and the raw MRI (N4-corrected again, as the stage does), builds
the PET-grid regions again with `gliopet.preprocess.regions.pet_regions` (configuration defaults)
and counts, for the saved masks and for the replay, the reference-region voxels (``healthy``,
``striatum``) inside the phantom's true tumour + 5 mm. Nothing is written into the dataset. It
checks a change of the region rules on a processed phantom cohort without redoing the
registrations (issue 11, sub-031: `docs/validation.md`, summary row "reference regions never in
the true tumour + 5 mm").

Usage::

    .venv/bin/python benchmarks/replay_regions.py /tmp/fwork/tiny-both
    .venv/bin/python benchmarks/replay_regions.py /tmp/fwork/tiny-both --participant-label 031

Prints one JSON line per session, then a summary line.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import nibabel as nib
import numpy as np

from gliopet.config import Config, load_config
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.preprocess import brainmask, regions
from gliopet.preprocess import registration as reg
from gliopet.preprocess.pipeline import (
    SEQUENCE_LABEL,
    MRIResult,
    TemplateResult,
    _mri_abnormality,
    _reference_key,
)
from gliopet.spatial import dilate_mm

REFERENCES = ("healthy", "striatum")


class _NoWrites:
    """Stands in for the stage's writer: the replay writes nothing."""

    def image(self, *args: object, **kwargs: object) -> None:
        return None


def _mri(session: Session, root: Path) -> tuple[MRIResult, TemplateResult]:
    """The stage's MRI and template results, rebuilt from the raw MRI and the saved files."""
    ids = (session.subject, session.session)
    reference = _reference_key(session, root)
    images = {key: brainmask.n4_correct(reg.nifti_to_sitk(anat.load()))[0]
              for key, anat in session.anat.items()}
    to_reference = {key: None if key == reference else reg.read_transform(
        d.XFM.path(root, ids, from_=SEQUENCE_LABEL[key], to=d.REFERENCE_SPACE)) for key in images}
    brain_img = reg.nifti_to_sitk(nib.load(d.T1W_MASK.path(root, ids, desc="brain")))
    ref_data, ref_affine = reg.from_sitk(images[reference])
    to_template = reg.read_transform(
        d.XFM.path(root, ids, from_=d.REFERENCE_SPACE, to=d.TEMPLATE_SPACE))
    template = TemplateResult(to_template, 0.0, 0.0, reg.from_sitk(brain_img)[0] > 0, ref_data,
                              ref_affine, images[reference].GetSpacing())
    return MRIResult(images, reference, 0.0, to_reference), template


def replay_session(session: Session, root: Path, config: Config) -> dict[str, np.ndarray]:
    """The PET-grid masks of one preprocessed session, built again with the current code."""
    ids = (session.subject, session.session)
    mri, template = _mri(session, root)
    static = nib.load(d.find(root, ids, d.STATIC_PET))
    opts = config.preprocess
    return regions.pet_regions(
        reg.to_sitk(np.asarray(static.dataobj, dtype=np.float32), static.affine),
        mri.images[mri.reference], template.brain_mask,
        reg.read_transform(d.XFM.path(root, ids, from_="pet", to=d.REFERENCE_SPACE)),
        template.transform, abnormal_t1=_mri_abnormality(mri, template, _NoWrites()),
        pet_threshold=config.quant.tumour_threshold_x_background,
        margin_mm=opts.reference_margin_mm, resolution_mm=opts.template_resolution_mm,
        striatum_search_mm=opts.striatum_search_mm,
        striatum_core_fraction=opts.striatum_core_fraction,
        striatum_min_contrast=opts.striatum_min_contrast)


def _tumour_margin(root: Path, ids: tuple[str, str | None]) -> np.ndarray:
    """The true tumour grown by 5 mm on the PET grid (bool)."""
    img = nib.load(d.TRUTH_TISSUE_PET.path(root, ids))
    legend = json.loads(d.TRUTH_TISSUE_PET.sidecar().path(root, ids).read_text())
    tumour = np.isin(np.asarray(img.dataobj), legend.get("TumourLabels", [10, 11, 12]))
    spacing = tuple(float(np.linalg.norm(img.affine[:3, i])) for i in range(3))
    return dilate_mm(tumour, 5.0, spacing) if tumour.any() else tumour


def compare_session(session: Session, root: Path, config: Config) -> dict[str, object]:
    """Reference voxels in the true tumour + 5 mm, saved run vs replay, and the healthy volume
    (voxels) of both."""
    ids = (session.subject, session.session)
    margin = _tumour_margin(root, ids)
    replayed = replay_session(session, root, config)
    row: dict[str, object] = {"session": session.key}
    for desc in REFERENCES:
        saved = np.asarray(nib.load(d.PET_MASK.path(root, ids, desc=desc)).dataobj) > 0
        row[f"{desc}_saved"] = int((saved & margin).sum())
        row[f"{desc}_replay"] = int((replayed[desc] & margin).sum())
        if desc == "healthy":
            row["healthy_voxels_saved"] = int(saved.sum())
            row["healthy_voxels_replay"] = int(replayed[desc].sum())
    return row


def main(argv: list[str] | None = None) -> int:
    """Replay every PET session of a processed phantom dataset; print JSON lines."""
    from gliopet.io.validate import usable_sessions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bids_dir", type=Path)
    parser.add_argument("--participant-label", nargs="*", default=None)
    args = parser.parse_args(argv)
    config = load_config()
    rows = [compare_session(s, args.bids_dir, config)
            for s in usable_sessions(args.bids_dir, args.participant_label, config)
            if s.pet is not None]
    for row in rows:
        print(json.dumps(row), flush=True)
    total = {f"{desc}_{run}": sum(int(r[f"{desc}_{run}"]) for r in rows)
             for desc in REFERENCES for run in ("saved", "replay")}
    print(json.dumps({"sessions": len(rows), **total}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
