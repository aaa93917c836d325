"""The classify section's held-out-generator evaluation: models trained on sites A and B applied
to ``tiny-heldout`` (site ``heldout``: other deformation, noise and kinetic models).

`gliopet classify cohort` evaluates one dataset (its sites, one external site), so the second
external dataset goes through the public `gliopet predict` with the saved models
(``--final-fit training-sites``: fitted on A and B, the operating threshold carried unchanged);
the metrics, their stratified bootstrap CIs, the Bayes ceiling (the phantom's true posterior on
the same sessions) and the DeLong test of the dynamic features use the same functions as
`gliopet classify cohort` (`gliopet.classify.results`, `gliopet.classify.cohort.bayes_ceiling`,
`gliopet.classify.dynamic`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from gliopet.classify.cohort import (
    TARGETS,
    bayes_ceiling,
    read_posteriors,
    read_sessions,
    session_key,
)
from gliopet.classify.dynamic import dynamic_vs_static
from gliopet.classify.results import results_table
from gliopet.io import derivatives as d
from validation.common import run as gliopet

EVALUATION = "heldout generator"


def heldout_predictions(root: Path, model_dir: Path, out: Path, target: str,
                        session: str) -> pd.DataFrame:
    """`gliopet predict` of the saved models on `root`, as out-of-sample prediction rows."""
    gliopet("predict", root, "--model", model_dir, "--out", out)
    table = pd.read_csv(out / "predictions.tsv", sep="\t")
    table["id"] = [session_key(p, s) for p, s in zip(table.participant_id, table.session_id,
                                                     strict=True)]
    sessions, _ = read_sessions(root, target, session)
    labels = sessions.set_index("id")["label"]
    table = table[table["id"].isin(labels.index)]
    return pd.DataFrame({
        "model": table["model"], "family": table["family"], "evaluation": EVALUATION,
        "repeat": 0, "fold": 0, "id": table["id"],
        "subject": table["participant_id"], "site": table["site"],
        "label": labels.loc[table["id"]].to_numpy(int), "probability": table["probability"],
        "threshold": table["threshold"], "predicted": table["predicted"]})


def heldout_results(root: Path, model_dir: Path, out: Path, target: str, session: str, *,
                    seed: int, n_boot: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(results rows with family and Bayes ceiling, dynamic_vs_static rows) on `root`."""
    predictions = heldout_predictions(root, model_dir, out, target, session)
    family = predictions.groupby("model")["family"].first()
    results = results_table(predictions.drop(columns="family"), seed=seed, n_boot=n_boot)
    results.insert(2, "family", results["model"].map(family))
    posterior = TARGETS[target].posterior
    if posterior is not None:
        ceiling = bayes_ceiling(predictions, read_posteriors(root, posterior), seed=seed,
                                n_boot=n_boot)
        results = results.merge(ceiling, on="evaluation", how="left")
        results["above_bayes_ceiling"] = results["auc"] > results["bayes_auc"]
    return results, dynamic_vs_static(predictions)


def quantified(root: Path) -> bool:
    """Whether `root` has quantification's cohort table (the held-out cohort is built)."""
    return d.COHORT_TABLE.path(root).is_file()
