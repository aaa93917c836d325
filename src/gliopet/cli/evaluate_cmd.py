"""`gliopet evaluate-representation`: evaluations of a pretrained foundation model (issue 12,
item 8; `gliopet.foundation.representation`).

``gliopet evaluate-representation BIDS_DIR --model CHECKPOINT --out DIR [--seeds 1,2,3]
[--labels IDH,outcome] [--site SITE] [--test-dataset TEST_DIR] [--jobs N]``
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app
from gliopet.cli.options import ConfigFile, Jobs


def parse_seeds(text: str | None, default: int) -> list[int]:
    """``--seeds`` as integers; three seeds from the configuration's when not given."""
    from gliopet.errors import ParameterError

    if text is None:
        return [default + i for i in range(3)]
    try:
        seeds = [int(s) for s in text.split(",") if s.strip()]
    except ValueError:
        raise ParameterError("--seeds", text, "a comma-separated list of integers") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise ParameterError("--seeds", text, "a comma-separated list of distinct integers")
    return seeds


@app.command("evaluate-representation")
def evaluate_representation(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS dataset embedded with `gliopet embed --model CHECKPOINT`.")],
    model: Annotated[Path, typer.Option(
        "--model", help="The checkpoint (.ckpt of gliopet pretrain) that made the embeddings.")],
    out: Annotated[Path, typer.Option(
        "--out", help="Folder of representation.tsv, representation.md, the projection PNG "
                      "and provenance.json.")],
    seeds: Annotated[str | None, typer.Option(
        "--seeds", help="Comma-separated seeds of k-means and of the cross-validation splits "
                        "(default: three from the configuration's seed).")] = None,
    labels: Annotated[str | None, typer.Option(
        "--labels", help="Comma-separated session labels to probe: IDH (at diagnosis), "
                         "outcome (at recurrence). Default: every one present.")] = None,
    site: Annotated[list[str] | None, typer.Option(
        "--site", help="Evaluate only this site's sessions (e.g. a site excluded from "
                       "pretraining); repeat for several. Default: every site.")] = None,
    test_dataset: Annotated[Path | None, typer.Option(
        "--test-dataset", help="Another dataset embedded with the same model (e.g. a held-out "
                               "generator): the probes are trained on BIDS_DIR (its --site "
                               "sessions) and every evaluation is scored on TEST_DIR.")] = None,
    jobs: Jobs = None,
    config: ConfigFile = None,
) -> None:
    """Patch clustering vs true compartments, probes on session labels, missing-modality
    robustness and a 2-D projection of a foundation model's embeddings."""
    from gliopet.cli.options import resolve_jobs
    from gliopet.config import load_config
    from gliopet.foundation.representation import (
        TABLE,
        RepresentationOptions,
        evaluate_representation,
    )

    settings = load_config(config)
    opts = RepresentationOptions(
        bids_dir, model, out, parse_seeds(seeds, settings.seed),
        [s.strip() for s in labels.split(",") if s.strip()] if labels else None,
        resolve_jobs(settings, jobs), site or None, config=settings, test_dir=test_dataset)
    table = evaluate_representation(opts)
    typer.echo(f"evaluated {len(table)} row(s); table: {out / TABLE}")
