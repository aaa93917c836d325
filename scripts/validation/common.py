"""Validation cohorts shared by the sections: simulated once, reused, processed by the CLI.

Every cohort is made by the public command line (``gliopet simulate``, ``gliopet preprocess``,
``gliopet quantify``), exactly as a user would run it, so the validation checks the shipped
tools and not private shortcuts.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

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


#: The cohorts the sections use. Tiny: cohort statistics (labels, AUCs, realism);
#: standard: accuracy of registration and quantification at clinical resolution.
COHORTS = {
    "tiny-both": CohortSpec("tiny-both", 40, 11, "tiny", "siteA,siteB,siteC", "both"),
    "tiny-quant": CohortSpec("tiny-quant", 8, 14, "tiny", "siteA,siteB,siteC", "both"),
    "tiny-healthy": CohortSpec("tiny-healthy", 6, 12, "tiny", "siteA,siteB,siteC", "healthy"),
    "standard-diagnosis": CohortSpec("standard-diagnosis", 2, 13, "standard", "siteA,siteB", "diagnosis"),
}


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
            run("simulate", root, "--subjects", spec.subjects, "--seed", spec.seed,
                "--profile", spec.profile, "--sites", spec.sites, "--scenario", spec.scenario,
                "--overwrite")
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
