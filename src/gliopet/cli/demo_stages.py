"""The stages of `gliopet demo` and its resume mechanism.

Each stage is one `gliopet` command line, run through `gliopet.cli.main` exactly as a user
would type it. When a stage succeeds, a marker ``OUT_DIR/.demo-state/<stage>.json`` is written
atomically (its command line, seconds, finish time); a rerun skips every stage whose marker
holds the same command line, so an interrupted demo resumes at the first unfinished stage. A
stage that runs again (no marker, or other settings) removes the markers of every later stage,
whose inputs it replaces (unless it only reads: validate, info, the phantom report). A stage
whose verb this version does not register is listed as not available, and so are the stages
that need it.
"""

from __future__ import annotations

import datetime as _dt
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: Folder of the stage markers inside OUT_DIR.
STATE_DIR = ".demo-state"
#: Settings of each demo size: subjects, foundation epochs, classify/signature repeats and
#: bootstrap replicates, classifiers of the radiomics family. `gliopet classify cohort` needs at
#: least 10 recurrence sessions with 3 of each outcome: 12 subjects is the smallest default.
SIZES = {
    "small": {"subjects": 12, "epochs": 2, "repeats": 2, "folds": 3, "n_boot": 200,
              "models": "logistic"},
    "full": {"subjects": 24, "epochs": 15, "repeats": 5, "folds": 3, "n_boot": 1000,
             "models": "logistic,rf"},
}
#: Configuration of the small demo's radiomics (a user file over the defaults): the static SUV
#: and TBR images and five feature families, about half the time of the full set.
SMALL_RADIOMICS = ("radiomics:\n  images: [SUV, TBR]\n"
                   "  families: [morphology, statistics, intensity_histogram, glcm, glrlm]\n")


def demo_config(out_dir: Path, size: str) -> Path | None:
    """Write the demo's configuration file for this size (None: the defaults)."""
    if size != "small":
        return None
    from gliopet.atomic import write_text

    return write_text(Path(out_dir) / "demo-config.yaml", SMALL_RADIOMICS)


def registered_verbs(app: object) -> set[str]:
    """Names of the verbs and command groups registered on a Typer app."""
    names = {group.name for group in app.registered_groups if group.name}
    for command in app.registered_commands:
        names.add(command.name or command.callback.__name__.replace("_", "-"))
    return names


@dataclass(frozen=True)
class DemoStage:
    """One demo stage: its name, command line (verb first), what it shows.

    ``clean`` is a folder removed before the stage runs (what an interrupted run of it left);
    ``needs`` names stages whose outputs it reads (skipped as not available without them);
    ``changes`` is False for a stage that only reads (validate, info, a report): rerunning it
    keeps the markers of the stages after it. A failed ``optional`` stage (one whose outputs
    no later stage needs but the report) is reported and the demo goes on; it runs again on
    the next run.
    """

    name: str
    argv: tuple[str, ...]
    what: str
    clean: Path | None = None
    needs: tuple[str, ...] = ()
    changes: bool = True
    optional: bool = False


def _report_argv(bids: str, o: Path, available: set[str]) -> tuple[str, ...]:
    """`gliopet report cohort` with the result folders of the stages this version has."""
    argv = ("report", "cohort", bids, "--out", str(o / "report"))
    if "classify" in available:
        argv += ("--classify", str(o / "classify"))
    if "signature" in available:
        argv += ("--signature", str(o / "signature"))
    if {"pretrain", "embed", "evaluate-representation"} <= available:
        argv += ("--foundation", str(o / "foundation-eval"))
    return argv


def demo_stages(out_dir: Path, subjects: int, seed: int, size: str,
                available: set[str]) -> list[DemoStage]:
    """The demo's stages in pipeline order for these settings (`available`: registered verbs,
    which decide the result folders the cohort report reads)."""
    s = SIZES[size]
    bids, o = str(out_dir / "bids"), out_dir
    config = ("--config", str(o / "demo-config.yaml")) if size == "small" else ()
    ckpt = str(o / "foundation" / "checkpoints" / "last.ckpt")
    # Two sessions at a time: registration and most per-session work run on one thread each.
    jobs = ("--jobs", "2")
    classify = ("--repeats", str(s["repeats"]), "--folds", str(s["folds"]), "--inner-folds",
                "2", "--n-boot", str(s["n_boot"]), "--models", s["models"], "--force", *jobs)
    return [
        DemoStage("simulate", ("simulate", bids, "--subjects", str(subjects), "--seed",
                               str(seed), "--profile", "tiny", "--scenario", "both",
                               "--overwrite"), "writes BIDS-PET + ground truth (3 sites)",
                  clean=o / "bids"),
        DemoStage("validate", ("validate", bids), "checks the dataset before analysis",
                  changes=False),
        DemoStage("info", ("info", bids), "lists the sessions, frame timing and SUV factors",
                  changes=False),
        DemoStage("preprocess", ("preprocess", bids, *jobs),
                  "motion correction, PET-MRI and MRI-template registration, masks, QC"),
        DemoStage("quantify", ("quantify", bids, *jobs),
                  "SUV/TBR/TSR/TTP/slope, voxel maps, kinetic models, hot spots"),
        DemoStage("phantom-report", ("phantom-report", bids),
                  "the simulated cohort against the published ranges", changes=False),
        DemoStage("radiomics", ("radiomics", bids, *config, *jobs),
                  "IBSI radiomics features (MIRP)"),
        DemoStage("pretrain", ("pretrain", bids, "--config", "tiny", "--max-epochs",
                               str(s["epochs"]), "--out", str(o / "foundation")),
                  "self-supervised foundation model (tiny preset, CPU)",
                  clean=o / "foundation"),
        DemoStage("embed", ("embed", bids, "--model", ckpt, "--force"),
                  "patch embeddings and session vectors", needs=("pretrain",)),
        DemoStage("evaluate-representation", (
            "evaluate-representation", bids, "--model", ckpt, "--seeds", str(seed),
            "--out", str(o / "foundation-eval"), *jobs),
            "the foundation model's representation against the phantom's truth",
            clean=o / "foundation-eval", needs=("embed",)),
        DemoStage("signature", ("signature", bids, "--session", "all", "--n-boot",
                                str(s["n_boot"]), "--out", str(o / "signature"), "--force", *jobs),
                  "habitats, aggressiveness map and subregion, association with markers"),
        DemoStage("biopsy", ("biopsy", bids, "--force"),
                  "biopsy target with DICOM SEG and RTSTRUCT", needs=("signature",),
                  changes=False, optional=True),
        DemoStage("classify", ("classify", "cohort", bids, "--target", "outcome", "--session",
                               "recurrence", "--families", "rules,radiomics",
                               "--external-site", "siteC", "--out", str(o / "classify"),
                               *classify),
                  "progression classifiers, nested CV by subject, site C external",
                  needs=("radiomics",)),
        DemoStage("predict", ("predict", bids, "--model", str(o / "classify")),
                  "the saved classifiers applied to each recurrence session",
                  needs=("classify",)),
        DemoStage("report", _report_argv(bids, o, available),
                  "cohort report (HTML) and a patient report per session"),
    ]


class DemoState:
    """The markers of finished stages in ``OUT_DIR/.demo-state``."""

    def __init__(self, out_dir: Path) -> None:
        self.folder = Path(out_dir) / STATE_DIR

    def marker(self, stage: DemoStage) -> Path:
        """The marker file of a stage."""
        return self.folder / f"{stage.name}.json"

    def done(self, stage: DemoStage) -> bool:
        """Whether the stage finished before with the same command line."""
        path = self.marker(stage)
        if not path.is_file():
            return False
        try:
            return json.loads(path.read_text()).get("argv") == list(stage.argv)
        except (json.JSONDecodeError, OSError):
            return False

    def mark(self, stage: DemoStage, seconds: float) -> Path:
        """Record the stage as finished (atomic write)."""
        from gliopet.atomic import write_json

        finished = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        return write_json(self.marker(stage), {"stage": stage.name, "argv": list(stage.argv),
                                               "seconds": round(seconds, 2),
                                               "finished": finished})

    def forget(self, stages: list[DemoStage]) -> None:
        """Remove the markers of `stages` (their inputs are about to change)."""
        for stage in stages:
            self.marker(stage).unlink(missing_ok=True)


@dataclass
class StageOutcome:
    """What happened to one stage: ran (seconds), skipped (finished before), or unavailable."""

    stage: DemoStage
    status: str
    seconds: float = 0.0
    code: int = 0


def run_stages(stages: list[DemoStage], state: DemoState, available: set[str],
               run: Callable[[list[str]], int], echo: Callable[[str], None]
               ) -> list[StageOutcome]:
    """Run the stages in order, skipping finished ones; stops at the first failure (its
    outcome has status 'failed' and the command's exit code)."""
    outcomes: list[StageOutcome] = []
    missing: set[str] = set()
    for index, stage in enumerate(stages):
        if stage.argv[0] not in available or missing & set(stage.needs):
            missing.add(stage.name)
            outcomes.append(StageOutcome(stage, "not available"))
            continue
        if state.done(stage):
            echo(f"\n[{index + 1}/{len(stages)}] {stage.name}: finished before, skipped")
            outcomes.append(StageOutcome(stage, "skipped"))
            continue
        state.forget(stages[index:] if stage.changes else [stage])
        if stage.clean is not None and stage.clean.exists():
            shutil.rmtree(stage.clean)
        echo(f"\n[{index + 1}/{len(stages)}] $ gliopet {' '.join(stage.argv)}    # {stage.what}")
        start = time.perf_counter()
        code = run(list(stage.argv))
        seconds = time.perf_counter() - start
        if code != 0:
            outcomes.append(StageOutcome(stage, "failed", seconds, code))
            if stage.optional:
                echo(f"{stage.name} failed (exit status {code}); it is optional: going on")
                continue
            return outcomes
        state.mark(stage, seconds)
        outcomes.append(StageOutcome(stage, "ran", seconds))
    return outcomes


def summary_lines(outcomes: list[StageOutcome], out_dir: Path) -> list[str]:
    """The end-of-demo summary: each stage's status and time, and the report's path."""
    lines = ["", "Demo stages:"]
    for o in outcomes:
        detail = f"{o.seconds:.1f} s" if o.status in ("ran", "failed") else o.status
        if o.status == "failed":
            detail += f", exit status {o.code}"
        lines.append(f"  {o.stage.name:<24} {o.status:<14} {detail}")
    total = sum(o.seconds for o in outcomes)
    lines.append(f"Time of the stages run now: {total:.1f} s")
    report = out_dir / "report" / "cohort_report.html"
    if report.is_file():
        lines.append(f"Cohort report: {report} (patient reports in {report.parent / 'patients'})")
    return lines
