"""docs/validation.md section "phantom": the simulated cohorts against the published ranges.

Runs the realism report (`gliopet.simulate.realism`) on ``tiny-both`` through the pipeline
(``gliopet preprocess`` + ``gliopet quantify``, then ``derivatives/gliopet/quant/cohort.tsv``);
when quantification is not available it falls back to the truth table and says so. The healthy
comparison uses ``tiny-healthy`` and the real FDOPA healthy group mean in
``../shared/data/real/fdopa-healthy-group-mean`` (read in place, never copied: CC BY-NC-SA).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from validation.common import COHORTS, Cohorts

REPO = Path(__file__).resolve().parents[2]
HEALTHY_REFERENCE = (REPO.parent / "shared" / "data" / "real" / "fdopa-healthy-group-mean"
                     / "FDOPA_group_mean_MNI_3mm.nii")


def _spec(name: str) -> str:
    s = COHORTS[name]
    return (f"`gliopet simulate OUT --subjects {s.subjects} --seed {s.seed} --profile {s.profile} "
            f"--sites {s.sites} --scenario {s.scenario}`")


def _standard_profile(cohorts: Cohorts, build_report, markdown_tables,
                      source_pipeline: str) -> list[str]:
    """The diagnosis figures again at clinical voxel sizes (standard profile), through the
    pipeline: the tiny profile's 4-5 mm voxels lower contrast, which must not be taken for
    biology."""
    try:
        root = cohorts.quantified("standard-realism")
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        return [f"Standard profile: not run ({exc.__class__.__name__}).", ""]
    result = build_report(root)
    table = result.table
    keep = (table["section"] == "uptake") & table["group"].str.startswith("diagnosis")
    keep |= (table["section"] == "kinetics") | (
        (table["section"] == "auc") & (table["group"] == "diagnosis"))
    result.table = table[keep]
    basis = "through the pipeline" if result.source == source_pipeline else "from the truth table"
    return [
        f"Cohort `standard-realism` ({_spec('standard-realism')}): 12 diagnosis sessions at "
        f"clinical voxel sizes (MRI 1 mm, PET about 2 mm), figures {basis}. Same rows as above "
        "(diagnosis only); small groups, so read the medians with their IQRs.",
        "",
        markdown_tables(result, level=4, sections=("uptake", "kinetics", "auc")).replace(
            "#### ", "#### Standard profile: "),
    ]


def run(cohorts: Cohorts) -> str:
    """Markdown of the phantom section."""
    from gliopet.simulate.realism import (
        SOURCE_PIPELINE,
        build_report,
        healthy_comparison,
        healthy_rows,
        markdown_tables,
    )

    fallback = ""
    try:
        root = cohorts.quantified("tiny-both")
    except (subprocess.CalledProcessError, FileNotFoundError) as exc:
        root = cohorts.bids("tiny-both")
        fallback = (
            "Preprocessing/quantification failed or is not available here "
            f"({exc.__class__.__name__}), so the image figures below come from the truth table: "
            "**generator only, not the analysis**."
        )
    result = build_report(root)
    lines = [
        "## Phantom realism",
        "",
        "Simulated results are signal-recovery results, not clinical evidence. Published ranges: "
        "docs/literature.md; each row states its tolerance.",
        "",
        f"Cohort `tiny-both` ({_spec('tiny-both')}): 40 subjects, 80 sessions, sites A-C.",
    ]
    if result.source == SOURCE_PIPELINE:
        lines.append(
            "Image figures come **through the pipeline** (`gliopet preprocess`, "
            "`gliopet quantify`, `derivatives/gliopet/quant/cohort.tsv`): they check the generator "
            "and the analysis together."
        )
    else:
        lines.append(
            fallback
            or "Image figures come from the truth table: **generator only, not the analysis**."
        )
    lines += [
        "Bayes ceilings: AUC of the true posteriors stored per session; the null marker is drawn "
        "independently of everything.",
        "",
        "Known disagreement: Fueger 2010 SUVmax and Verger 2017 T/N cannot both hold (IDH-wildtype "
        "glioblastomas are high grade, so their T/N cannot be about 1.2 with SUVmax about 4.2 over "
        "a healthy background near SUV 1.2); the phantom follows Fueger and Ginet, so its T/N and "
        "T/S are above Verger's and IDH-wildtype tumours take up more than IDH-mutant ones (Verger "
        "reports the reverse); the Verger rows are reported as they come out.",
        "",
        markdown_tables(result, level=3, sections=("uptake", "kinetics", "auc", "noise")),
    ]
    lines += _standard_profile(cohorts, build_report, markdown_tables, SOURCE_PIPELINE)
    if HEALTHY_REFERENCE.is_file():
        healthy_root = cohorts.bids("tiny-healthy")
        healthy = healthy_comparison(healthy_root, HEALTHY_REFERENCE)
        import pandas as pd

        from gliopet.simulate.realism import ROW_COLUMNS, RealismResult

        part = RealismResult(
            source=result.source,
            table=pd.DataFrame(healthy_rows(healthy), columns=list(ROW_COLUMNS)),
            noise=result.noise.iloc[0:0],
            healthy=healthy,
        )
        lines += [
            f"Healthy comparison: cohort `tiny-healthy` ({_spec('tiny-healthy')}) against the real "
            "[18F]FDOPA group mean of 12 healthy controls (MNI 3 mm; hansen_receptors / JuSpace, "
            "CC BY-NC-SA 4.0, read from ../shared, not copied).",
            "",
            markdown_tables(part, level=3, sections=("healthy",)),
        ]
    else:
        lines.append(
            "Healthy comparison skipped: ../shared/data/real/fdopa-healthy-group-mean is not "
            "present."
        )
    return "\n".join(lines).rstrip() + "\n"
