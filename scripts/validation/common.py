"""Validation cohorts shared by the sections: simulated once, reused, processed by the CLI.

Every cohort is made by the public command line (``gliopet simulate``, ``gliopet preprocess``,
``gliopet quantify``), exactly as a user would run it, so the validation checks the shipped
tools and not private shortcuts.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np

from gliopet.io import derivatives as d
from gliopet.io.bids_names import parse_entities

#: The console script installed next to this Python (the .venv of `make validate`).
GLIOPET = [str(Path(sys.executable).parent / "gliopet")]


@dataclass(frozen=True)
class CohortSpec:
    """A simulated validation cohort (arguments of ``gliopet simulate``)."""

    name: str
    subjects: int
    seed: int
    profile: str
    sites: str
    scenario: str
    aggressive_fraction: float | None = None   # None: the configuration's default
    kinetics: str = "fdopa"

    def simulate_args(self) -> list[str]:
        """The ``gliopet simulate`` options of this cohort (without the output folder)."""
        args = [
            "--subjects",
            str(self.subjects),
            "--seed",
            str(self.seed),
            "--profile",
            self.profile,
            "--sites",
            self.sites,
            "--scenario",
            self.scenario,
        ]
        if self.aggressive_fraction is not None:
            args += ["--aggressive-fraction", f"{self.aggressive_fraction:g}"]
        if self.kinetics != "fdopa":
            args += ["--kinetics", self.kinetics]
        return args


#: The cohorts the sections use. Tiny: cohort statistics (labels, AUCs, realism);
#: standard: accuracy of registration and quantification at clinical resolution.
COHORTS = {
    "tiny-both": CohortSpec("tiny-both", 40, 11, "tiny", "siteA,siteB,siteC", "both"),
    "tiny-quant": CohortSpec("tiny-quant", 8, 14, "tiny", "siteA,siteB,siteC", "both"),
    "tiny-healthy": CohortSpec("tiny-healthy", 6, 12, "tiny", "siteA,siteB,siteC", "healthy"),
    "standard-diagnosis": CohortSpec(
        "standard-diagnosis", 2, 13, "standard", "siteA,siteB", "diagnosis"
    ),
    # realism at clinical voxel sizes: the tiny profile loses contrast to its larger voxels
    "standard-realism": CohortSpec(
        "standard-realism", 12, 11, "standard", "siteA,siteB,siteC", "diagnosis"
    ),
    # dynamic hot spots: half of the tumours with a planted aggressive subregion
    "tiny-hotspot": CohortSpec(
        "tiny-hotspot", 30, 16, "tiny", "siteA,siteB,siteC", "diagnosis", 0.5
    ),
    # the held-out generator (site "heldout": other deformation, noise and kinetic models than
    # sites A-C); never used in development or training, only to test that a claim generalises
    "tiny-heldout": CohortSpec(
        "tiny-heldout", 20, 21, "tiny", "heldout", "both", 0.5
    ),
    # reference-region models on the one-tissue verification phantom
    "tiny-onetissue": CohortSpec(
        "tiny-onetissue", 12, 15, "tiny", "siteA,siteB,siteC", "diagnosis", 0.5, "one-tissue"
    ),
}
TRUTH = d.TRUTH.relative


def run(*args: str) -> None:
    """Run a gliopet command, streaming its output; raise if it fails."""
    command = [*GLIOPET, *map(str, args)]
    print("[validate] $ gliopet " + " ".join(map(str, args)), flush=True)
    subprocess.run(command, check=True)


class Cohorts:
    """Lazily simulated and processed cohorts under a work folder."""

    def __init__(self, work: Path):
        self.work = Path(work)

    def bids(self, name: str) -> Path:
        """The BIDS root of cohort `name`, simulated on first use."""
        spec = COHORTS[name]
        root = self.work / name
        if not (root / "dataset_description.json").is_file():
            run("simulate", root, *spec.simulate_args(), "--overwrite")
        return root

    def preprocessed(self, name: str, jobs: int = 2) -> Path:
        """BIDS root of cohort `name` after ``gliopet preprocess`` (idempotent)."""
        root = self.bids(name)
        run("preprocess", root, "--jobs", jobs)
        return root

    def quantified(self, name: str) -> Path:
        """BIDS root of cohort `name` after ``gliopet quantify`` (idempotent)."""
        root = self.preprocessed(name)
        run("quantify", root)
        return root


def process(root: Path, config: Path | None = None) -> Path:
    """Preprocess and quantify `root` with the CLI (idempotent; ``--config`` when given)."""
    extra = [] if config is None else ["--config", config]
    run("preprocess", root, "--jobs", 2, *extra)
    run("quantify", root, "--jobs", 2, *extra)
    return root


def copy_with_pet(
    root: Path, target: Path, make_pet: Callable[[Path, str, str], np.ndarray]
) -> Path:
    """Copy of a simulated cohort (without its gliopet derivatives) whose PET files are replaced.

    ``make_pet(pet_path, sub, ses)`` returns the new 4-D PET (Bq/mL) of each session, e.g. a truth
    image; the copy is built beside `target` and renamed when complete (reused when present).
    """
    if (target / "dataset_description.json").is_file():
        return target
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    pipeline = root / d.PIPELINE_DIR
    shutil.copytree(
        root,
        partial,
        ignore=lambda folder, names: [pipeline.name] if Path(folder) == pipeline.parent else [],
    )
    for pet in sorted(partial.glob("sub-*/ses-*/pet/*_pet.nii.gz")):
        sub, ses = pet.parts[-4], pet.parts[-3]
        data = np.asarray(make_pet(pet, sub, ses), dtype=np.float32)
        nib.save(nib.Nifti1Image(data, nib.load(pet).affine), pet)
    partial.rename(target)
    return target


def truth_pet(root: Path, pet: Path, sub: str, ses: str, desc: str) -> np.ndarray:
    """The truth PET ``desc`` (noisefreepsf, noisefreenopsf) of the session of raw PET `pet`."""
    tracer = parse_entities(pet.name).get("trc")
    truth = d.TRUTH_NOISEFREE_PET.path(root, (sub, ses), tracer=tracer, desc=desc)
    return np.asarray(nib.load(truth).dataobj, dtype=np.float32)


#: Window (s) of the planted early-uptake contrast (the quantification early window, 1-10 min).
EARLY_CONTRAST_S = (60.0, 600.0)


def planted_contrast(root: Path, sub: str, ses: str, aggressive: np.ndarray,
                     tissue: np.ndarray) -> float:
    """Planted early-uptake contrast of a session: noise-free (after PSF) mean over 1-10 min in
    the true aggressive subregion / the rest of the true tumour (`TUMOUR_LABELS`) - 1; 0 when
    nothing is planted."""
    import json

    from gliopet.io.timing import FrameTiming
    from gliopet.simulate.anatomy import TUMOUR_LABELS

    rest = np.isin(tissue, TUMOUR_LABELS) & ~aggressive
    if not aggressive.any() or not rest.any():
        return 0.0
    side = json.loads(next((root / sub / ses / "pet").glob("*_pet.json")).read_text())
    timing = FrameTiming.from_bids(side["FrameTimesStart"], side["FrameDuration"],
                                   float(side.get("InjectionStart", 0) or 0))
    clean = np.asarray(nib.load(d.find(root, (sub, ses), d.TRUTH_NOISEFREE_PET,
                                       desc="noisefreepsf")).dataobj, dtype=np.float32)
    early = np.tensordot(clean, timing.window_weights(*EARLY_CONTRAST_S), axes=([-1], [0]))
    return float(early[aggressive].mean() / early[rest].mean() - 1.0)
