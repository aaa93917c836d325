"""Preprocessing of an MRI-only session (no PET; e.g. a public collection brought in with
`gliopet import-brats`), so that it joins the foundation model's pretraining.

The steps of `gliopet.preprocess.pipeline` that need no PET, with the same functions and so the
same files: N4 and co-registration of each sequence to the reference MRI (XFM), the affine
MRI-to-template registration and the brain mask (T1W_MASK ``brain``), the MRI abnormality
(T1W_MASK ``abnormal``, with FLAIR or T2w), and the learning grid (LEARNING_MRI, LEARNING_MASK).
Nothing on a PET grid and no QC figure is written; the QC row has the MRI columns only (the PET
ones are ``n/a`` in qc.tsv).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gliopet.errors import InputError
from gliopet.io.session import Session
from gliopet.preprocess import pipeline as p
from gliopet.stage import SessionContext, SessionWriter


@dataclass
class MRIOnlyResult:
    """The MRI steps of one MRI-only session, its QC flags and step times (s)."""

    header: dict[str, Any]
    mri: p.MRIResult
    template: p.TemplateResult
    times: dict[str, float]
    flags: list[str]
    seconds: float
    threads: int

    def row(self) -> dict[str, Any]:
        """The QC row (the MRI columns of qc.tsv)."""
        row = dict(self.header)
        for key, (initial, final) in self.mri.nmi.items():
            row[f"coreg_nmi_{p.SEQUENCE_LABEL[key]}"] = round(final, 4)
            row[f"coreg_nmi_initial_{p.SEQUENCE_LABEL[key]}"] = round(initial, 4)
        row["mri_coregistration"] = ";".join(f"{key}:{initial:.3f}->{final:.3f}"
                                             for key, (initial, final) in self.mri.nmi.items())
        voxel_ml = float(np.prod(self.template.spacing_mm)) / 1000.0
        row.update({"time_mri_s": self.times["time_mri_s"],
                    "template_nmi": round(self.template.nmi, 4),
                    "template_metric": round(self.template.metric, 4),
                    "time_template_s": self.times["time_template_s"],
                    "brain_ml_mri": round(float(self.template.brain_mask.sum()) * voxel_ml, 1),
                    "time_grids_s": self.times["time_grids_s"],
                    "flags": ";".join(self.flags), "seconds": self.seconds,
                    "threads": self.threads})
        return row


def preprocess_mri_only(session: Session, context: SessionContext) -> MRIOnlyResult:
    """MRI co-registration, template registration, brain mask, MRI abnormality and learning grid
    of a session without PET.

    Raises
    ------
    InputError
        No anatomical MRI, or an MRI that does not overlap the reference MRI.
    """
    from gliopet.preprocess import qc

    started = time.perf_counter()
    p._set_threads(context.threads)
    config, opts = context.config, context.config.preprocess
    reference = _reference_key(session)
    out = SessionWriter(context.out, (session.subject, session.session or None), None)
    clock = p._Stopwatch()
    mri = p._mri_step(session, reference, out, config)
    clock.lap("time_mri_s")
    template = p._template_step(mri, out, config)
    clock.lap("time_template_s")
    p._mri_abnormality(mri, template, out)
    p.learning_step(mri, template, out, config)
    clock.lap("time_grids_s")
    header = p._header(session, reference)
    flags = [] if reference in ("ce-gadolinium_T1w", "T1w") else ["reference_not_T1"]
    flags += qc.qc_flags({"template_nmi": template.nmi}, min_template_nmi=opts.min_template_nmi)
    return MRIOnlyResult(header, mri, template, clock.times, flags,
                         round(time.perf_counter() - started, 2), context.threads)


def _reference_key(session: Session) -> str:
    """Key of the registration target MRI (contrast T1w, else T1w, T2w, FLAIR)."""
    reference = session.mri_reference()
    if reference is None:
        raise InputError("no anatomical MRI (ce-gadolinium_T1w, T1w, T2w or FLAIR) in this "
                         "session", path=session.root or ".",
                         fix="add at least a T1w image to the anat/ folder")
    return next(key for key, value in session.anat.items() if value is reference)
