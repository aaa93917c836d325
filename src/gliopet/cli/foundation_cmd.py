"""`gliopet pretrain` and `gliopet embed`: the foundation model (issue 12).

``gliopet pretrain BIDS_DIR --config tiny|base|FILE [--max-epochs N] [--init CHECKPOINT]
[--exclude-site SITE] [--resume] --out DIR`` pretrains on every learning-grid session
(`gliopet.foundation.training`); ``gliopet embed BIDS_DIR --model CHECKPOINT [--dense]``
writes per-session patch embeddings and the cohort table of session vectors
(`gliopet.foundation.embed`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app
from gliopet.cli.options import ConfigFile, Force, ParticipantLabels


@app.command("pretrain")
def pretrain(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS dataset with learning-grid images (gliopet preprocess, quantify).")],
    out: Annotated[Path, typer.Option("--out", help="Folder of checkpoints, model cards, logs.")],
    model_config: Annotated[str, typer.Option(
        "--config", help="Foundation preset (tiny: 2 CPU cores; base: GPU, bf16) or a YAML "
                         "file overriding one (gliopet/data/config/foundation/).")] = "tiny",
    max_epochs: Annotated[int | None, typer.Option(
        "--max-epochs", min=1, help="Epochs (default: the configuration's).")] = None,
    init: Annotated[Path | None, typer.Option(
        "--init", help="Start the encoder from a local MONAI ViT/UNETR, SwinUNETR or timm ViT "
                       "checkpoint (report in DIR/init-report.json).")] = None,
    exclude_site: Annotated[list[str] | None, typer.Option(
        "--exclude-site", help="Leave this site's sessions out (repeat for several).")] = None,
    resume: Annotated[bool, typer.Option(
        "--resume", help="Continue the run in --out from its last checkpoint.")] = False,
    seed: Annotated[int | None, typer.Option(
        "--seed", min=0, help="Pretraining seed: initial weights, data order, crops, masks "
                              "(default: the package configuration's).")] = None,
    participant_label: ParticipantLabels = None,
) -> None:
    """Pretrain the multimodal foundation model (self-supervised) on learning-grid sessions.

    The learning grid is the package configuration's (defaults.yaml), and so is the seed unless
    --seed is given.
    """
    from gliopet.config import load_config
    from gliopet.foundation.config import load_foundation_config
    from gliopet.foundation.training import pretrain_bids

    settings = load_config()
    foundation = load_foundation_config(model_config)
    result = pretrain_bids(bids_dir, foundation, out,
                           seed=settings.seed if seed is None else seed, max_epochs=max_epochs,
                           init=init, resume=resume, exclude_sites=exclude_site or (),
                           participant_labels=participant_label, announce=typer.echo)
    last = result.history[-1] if result.history else {}
    losses = ", ".join(f"{k} {v:.4g}" for k, v in last.items() if k != "epoch")
    typer.echo(f"pretrained {len(result.history)} epoch(s); last epoch: {losses}")
    typer.echo(f"checkpoint: {result.checkpoint}; model card: {result.card}")


@app.command("embed")
def embed(
    bids_dir: Annotated[Path, typer.Argument(
        help="BIDS dataset with learning-grid images (gliopet preprocess, quantify).")],
    model: Annotated[Path, typer.Option(
        "--model", help="A checkpoint written by gliopet pretrain (.ckpt).")],
    dense: Annotated[bool, typer.Option(
        "--dense", help="Also write the vectors interpolated onto the 2 mm learning grid "
                        "(large: X*Y*Z*width floats per session).")] = False,
    participant_label: ParticipantLabels = None,
    force: Force = False,
    config: ConfigFile = None,
) -> None:
    """Per-session patch-embedding maps, session vectors and their cohort table."""
    from gliopet.config import load_config
    from gliopet.foundation.embed import run_embed
    from gliopet.io.derivatives import EMBEDDING_TABLE

    table = run_embed(bids_dir, model, participant_label=participant_label, force=force,
                      dense=dense, config=load_config(config))
    count = 0 if table is None else len(table)
    typer.echo(f"embedded {count} session(s); table: {EMBEDDING_TABLE.path(bids_dir)}")
