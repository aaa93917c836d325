"""`gliopet classify tabular`: the radiomics + ML pipeline and its evaluation on any table.

`run_tabular` reads and checks the tables (`gliopet.classify.tables`), builds the models (the
classical families of `gliopet.classify.models`, and the clinical rules of
`gliopet.classify.rules` when the table has their columns), evaluates them by repeated nested
cross-validation by subject and, with an external site, by external validation
(`gliopet.classify.evaluate`), then fits each model on every patient for the explanations and
the saved model, and writes the output folder (`gliopet.classify.report`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.base import BaseEstimator

from gliopet.classify.evaluate import Evaluation, external_validation, nested_cv
from gliopet.classify.harmonize import combat_factory
from gliopet.classify.models import KINDS, TabularModel
from gliopet.classify.rules import available_rules
from gliopet.classify.tables import InputReport, TabularData, load_tabular
from gliopet.errors import InputError, ParameterError


@dataclass
class TabularOptions:
    """Everything `gliopet classify tabular` takes (see the command's help)."""

    features: Path
    labels: Path | None
    target: str
    out: Path
    seed: int
    positive: str | None = None
    id_column: str | None = None
    group_column: str | None = None
    subject_column: str | None = None
    covariates: tuple[str, ...] = ()
    models: tuple[str, ...] = (*KINDS, "rules")
    tracer: str | None = None
    repeats: int = 10
    folds: int = 5
    inner_folds: int = 3
    external_site: str | None = None
    harmonize: bool = False
    n_boot: int = 2000
    jobs: int = 1
    max_correlation: float = 0.9
    #: "progression": published cut-offs and progression's directions; "other": learned only
    rules_task: str = "progression"
    force: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def check_options(opts: TabularOptions) -> None:
    """Refuse bad parameters before any work."""
    unknown = [m for m in opts.models if m not in (*KINDS, "rules")]
    if unknown or not opts.models:
        raise ParameterError("--models", ",".join(opts.models),
                             f"a comma-separated subset of {', '.join((*KINDS, 'rules'))}")
    for name, value, low in (("--repeats", opts.repeats, 1), ("--folds", opts.folds, 2),
                             ("--inner-folds", opts.inner_folds, 2), ("--n-boot", opts.n_boot, 100),
                             ("--jobs", opts.jobs, 1)):
        if value < low:
            raise ParameterError(name, value, f"an integer >= {low}")
    if opts.harmonize and opts.group_column is None:
        raise InputError("--harmonize needs the site of every patient",
                         fix="give the site column with --group-column")
    if opts.external_site is not None and opts.group_column is None:
        raise InputError("--external-site needs the site of every patient",
                         fix="give the site column with --group-column")
    if opts.out.exists() and any(opts.out.iterdir()) and not opts.force:
        raise InputError("the output folder exists and is not empty", path=opts.out,
                         fix="give a new folder, or --force to replace it")


def build_models(data: TabularData, opts: TabularOptions) -> dict[str, BaseEstimator]:
    """Name -> unfitted model for every requested family the table allows."""
    harmonizer = combat_factory() if opts.harmonize else None
    models: dict[str, BaseEstimator] = {}
    for kind in opts.models:
        if kind == "rules":
            models.update(available_rules(list(data.X.columns), opts.tracer, opts.rules_task))
        else:
            models[kind] = TabularModel(kind, inner_splits=opts.inner_folds,
                                        covariates=tuple(data.covariates),
                                        harmonizer=harmonizer,
                                        max_correlation=opts.max_correlation, seed=opts.seed)
    if not models:
        raise InputError("no model to run: the rules need TBRmax, TBRmean, TSRmax or TTP_min "
                         "columns", fix="add classical models with --models")
    return models


@dataclass
class TabularRun:
    """Everything `report.write_outputs` writes."""

    data: TabularData
    report: InputReport
    models: dict[str, BaseEstimator]
    evaluation: Evaluation
    fitted: dict[str, BaseEstimator]
    explanations: dict[str, pd.DataFrame]


def _combine(parts: list[Evaluation]) -> Evaluation:
    return Evaluation(pd.concat([p.predictions for p in parts], ignore_index=True),
                      pd.concat([p.selections for p in parts], ignore_index=True))


def evaluate_tabular(opts: TabularOptions) -> TabularRun:
    """Read, check, evaluate and fit the final models (nothing written)."""
    check_options(opts)
    data, report = load_tabular(opts.features, opts.labels, opts.target,
                                id_column=opts.id_column, positive=opts.positive,
                                group_column=opts.group_column,
                                subject_column=opts.subject_column, covariates=opts.covariates)
    models = build_models(data, opts)
    parts = [nested_cv(models, data, n_splits=opts.folds, n_repeats=opts.repeats,
                       seed=opts.seed, n_jobs=opts.jobs)]
    if opts.external_site is not None:
        parts.append(external_validation(models, data, opts.external_site, seed=opts.seed,
                                         n_jobs=opts.jobs))
    fitted, explanations = {}, {}
    for name, prototype in models.items():
        model = prototype.__class__(**prototype.get_params())
        model.fit(data.X, data.y, groups=data.subjects, sites=data.sites)
        fitted[name] = model
        explanations[name] = model.explain(data.X, sites=data.sites)
    return TabularRun(data, report, models, _combine(parts), fitted, explanations)
