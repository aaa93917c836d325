"""`gliopet predict BIDS_DIR --model DIR [--out DIR]`: a model saved by `gliopet classify
cohort` applied to the sessions of a dataset (`gliopet.classify.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gliopet.cli import app


@app.command("predict")
def predict(
    bids_dir: Annotated[Path, typer.Argument(help="BIDS dataset quantified by `gliopet "
                                                  "quantify` (and `gliopet radiomics`).")],
    model: Annotated[Path, typer.Option("--model", help="Output folder of `gliopet classify "
                                                        "cohort` (its models.joblib).")],
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder of predictions.tsv. Default: derivatives/gliopet/predict/.")
    ] = None,
) -> None:
    """Probability, operating threshold, predicted class and explanation per session."""
    from gliopet.classify.predict import write_predictions

    path = write_predictions(bids_dir, model, out)
    typer.echo(f"wrote {path}")
