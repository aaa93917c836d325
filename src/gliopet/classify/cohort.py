"""`gliopet classify cohort`: the WP3 families on a quantified BIDS dataset.

The feature tables come from the derivatives contract (`gliopet.io.derivatives`): the clinical
rules read quantification's ``cohort.tsv`` (TBRmax, TBRmean, TSRmax, TTP_min), the radiomics
family reads ``radiomics.tsv`` joined with it by session. The sessions are those of one kind
(``--session recurrence``: every ``ses-recurrence*``), the label comes from ``cohort.tsv``
(`TARGETS`), the subject is the split unit and the site the group (harmonisation, external
validation). Every family sees the same sessions in the same order, so the outer folds of
`gliopet.classify.evaluate` (seeded, stratified by subject) are the same for all of them and
DeLong's tests pair the same sessions.

For progression at recurrence the rules family also holds PET RANO 1.0 (the recurrence session
against the subject's diagnosis session, `gliopet.classify.petrano`; sessions without a
baseline are listed as not assessable) and the two logistic models of the test whether dynamic
features add to TBRmax (`gliopet.classify.dynamic`, ``dynamic_vs_static.tsv``).

On a phantom (``derivatives/phantom-truth`` present) the Bayes ceiling of every evaluation is
the AUC of the true posterior (``*_latent.json``, read through the contract) on that
evaluation's sessions, with the same stratified bootstrap as the models
(docs/conventions.md, "Validation and leakage").
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gliopet.classify import petrano
from gliopet.classify.dynamic import DYNAMIC, dynamic_models
from gliopet.classify.evaluate import Evaluation, external_rows, external_validation, nested_cv
from gliopet.classify.models import KINDS
from gliopet.classify.rules import LEARNED
from gliopet.classify.tables import InputReport, TabularData, load_tabular, read_table
from gliopet.classify.tabular import TabularOptions, build_models
from gliopet.errors import InputError, ParameterError
from gliopet.io import derivatives as d
from gliopet.io.labels import LABELS
from gliopet.io.truth import true_posteriors
from gliopet.metrics import bootstrap_metrics

#: Targets of `gliopet classify cohort` (column of cohort.tsv -> coding, `gliopet.io.labels`).
TARGETS = {name: LABELS[name] for name in ("outcome", "IDH", "codeletion_1p19q")}
#: Families this command runs: tabular, then image families (`gliopet.classify.image_cohort`).
TABULAR_FAMILIES = ("rules", "radiomics")
FAMILIES = (*TABULAR_FAMILIES, "cnn", "foundation")
#: Families left out with a note when their input is not given (name -> note).
NOT_YET = {
    "foundation": "the foundation-model family needs a pretrained checkpoint (--foundation-model "
                  "PATH, a .ckpt of `gliopet pretrain`); skipped",
}
NO_IMAGES = ("no session has learning-grid images (run `gliopet preprocess`, and `gliopet "
             "quantify` for the dynamic channels); skipped")
SESSION_KINDS = ("recurrence", "diagnosis")
#: Columns of radiomics.tsv that are not features (`gliopet.radiomics.pipeline.ID_COLUMNS`).
RADIOMICS_ID_COLUMNS = ("participant_id", "session_id", "tumour_status", "tumour_voxels",
                        "images", "vois", "note")


@dataclass
class CohortOptions:
    """Everything `gliopet classify cohort` takes (see the command's help)."""

    bids_dir: Path
    target: str
    session: str
    out: Path
    seed: int
    families: tuple[str, ...] = FAMILIES
    classifiers: tuple[str, ...] = KINDS
    external_site: str | None = None
    harmonize: bool = False
    repeats: int = 10
    folds: int = 5
    inner_folds: int = 3
    n_boot: int = 2000
    jobs: int = 1
    force: bool = False
    foundation_model: Path | None = None
    foundation_mode: str = "probe"
    image_repeats: int = 3
    cnn_epochs: int = 60
    saliency: tuple[str, ...] = ("gradcam",)
    crop_voxels: int = 32
    label_fractions: tuple[float, ...] = ()
    final_fit: str = "all"


#: What the saved models are fitted on: every session, or the sites other than --external-site.
FINAL_FITS = ("all", "training-sites")


def check_families(families: tuple[str, ...], foundation_model: Path | None = None
                   ) -> tuple[tuple[str, ...], list[str]]:
    """(families to run, one note per family left out); unknown names are refused."""
    unknown = [f for f in families if f not in FAMILIES]
    if unknown or not families:
        raise ParameterError("--families", ",".join(families),
                             f"a comma-separated subset of {', '.join(FAMILIES)}")
    skipped = {"foundation"} if foundation_model is None else set()
    notes = [f"{f}: {NOT_YET[f]}" for f in families if f in skipped]
    run = tuple(f for f in FAMILIES if f in families and f not in skipped)
    if not run:
        raise InputError(" ; ".join(notes).replace("; skipped", ""),
                         fix="run the families rules and radiomics (--families rules,radiomics)")
    return run, notes


def check_cohort_options(opts: CohortOptions) -> None:
    """Refuse bad parameters before any work."""
    if opts.target not in TARGETS:
        raise ParameterError("--target", opts.target, f"one of {', '.join(TARGETS)}")
    if opts.session not in SESSION_KINDS:
        raise ParameterError("--session", opts.session, f"one of {', '.join(SESSION_KINDS)}")
    bad = [c for c in opts.classifiers if c not in KINDS]
    if bad or not opts.classifiers:
        raise ParameterError("--models", ",".join(opts.classifiers),
                             f"a comma-separated subset of {', '.join(KINDS)}")
    from gliopet.classify.finetune import MODES
    from gliopet.classify.saliency import METHODS

    if opts.foundation_mode not in MODES:
        raise ParameterError("--foundation-mode", opts.foundation_mode, f"one of "
                             f"{', '.join(MODES)}")
    bad = [m for m in opts.saliency if m not in METHODS]
    if bad:
        raise ParameterError("--saliency", ",".join(opts.saliency),
                             f"a comma-separated subset of {', '.join(METHODS)}")
    if opts.label_fractions:
        from gliopet.classify.label_efficiency import check_fractions

        check_fractions(opts.label_fractions)
    if opts.final_fit not in FINAL_FITS:
        raise ParameterError("--final-fit", opts.final_fit, f"one of {', '.join(FINAL_FITS)}")
    if opts.final_fit == "training-sites" and opts.external_site is None:
        raise ParameterError("--final-fit", opts.final_fit, "'all' without --external-site")
    if opts.crop_voxels < 8 or opts.crop_voxels % 8:
        raise ParameterError("--crop-voxels", opts.crop_voxels, "a multiple of 8 (voxels of 2 mm)")
    if opts.foundation_model is not None and not Path(opts.foundation_model).is_file():
        raise InputError("model checkpoint not found", path=opts.foundation_model,
                         fix="give a .ckpt written by `gliopet pretrain` (its checkpoints/ folder)")


def session_kind(session_id: str) -> str:
    """Kind of a session from its label: ``ses-recurrence2`` -> ``recurrence``."""
    return re.sub(r"[-_]?\d+$", "", str(session_id).removeprefix("ses-"))


def session_key(participant_id: str, session_id: str) -> str:
    """Id of a session in the output tables: ``sub-<s>_ses-<t>``."""
    return f"{participant_id}_{session_id}"


def read_sessions(bids_dir: Path, target: str, kind: str) -> tuple[pd.DataFrame, list[str]]:
    """cohort.tsv rows of the sessions of `kind` with a usable label (column ``label``: 1/0).

    Returns the rows (columns of cohort.tsv plus ``id``, ``label``) and one line per dropped
    session.
    """
    path = d.COHORT_TABLE.path(bids_dir)
    if not path.is_file():
        raise InputError("quantification's cohort table is missing", path=path,
                         fix=f"run `{d.QUANT.command}` on the dataset first")
    cohort = read_table(path)
    for column in ("participant_id", "session_id", target):
        if column not in cohort.columns:
            raise InputError(f"cohort.tsv has no column {column!r}", path=path,
                             fix="add the label to participants.tsv or sub-<s>_sessions.tsv "
                                 f"and rerun `{d.QUANT.command} --force`")
    kinds = cohort["session_id"].map(session_kind)
    rows = cohort[kinds == kind].copy()
    if rows.empty:
        found = ", ".join(sorted(set(kinds))) or "none"
        raise InputError(f"no {kind} session in cohort.tsv (session kinds: {found})", path=path,
                         fix="choose --session among these kinds")
    rows["id"] = [session_key(p, s) for p, s in zip(rows.participant_id, rows.session_id,
                                                    strict=True)]
    coding = TARGETS[target]
    values = rows[target].astype("string").str.strip()
    is_pos = (values == coding.positive).fillna(False).to_numpy(bool)
    is_neg = values.isin(coding.negatives).fillna(False).to_numpy(bool)
    rows["label"] = np.where(is_pos, 1.0, np.where(is_neg, 0.0, np.nan))
    dropped = [f"dropped session {i}: {target} is {v if pd.notna(v) else 'missing'} (positive: "
               f"{coding.positive}; negative: {', '.join(coding.negatives)})"
               for i, v, lab in zip(rows.id, values, rows.label, strict=True) if np.isnan(lab)]
    return rows[rows["label"].notna()].reset_index(drop=True), dropped


def read_radiomics(bids_dir: Path, sessions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """radiomics.tsv features of `sessions` (rows aligned; sessions without a row dropped)."""
    path = d.RADIOMICS_TABLE.path(bids_dir)
    if not path.is_file():
        raise InputError("the radiomics table radiomics.tsv is missing", path=path,
                         fix=f"run `{d.RADIOMICS.command}` on the dataset first")
    table = read_table(path)
    table.index = [session_key(p, s) for p, s in zip(table.participant_id, table.session_id,
                                                     strict=True)]
    missing = [i for i in sessions["id"] if i not in table.index]
    dropped = [f"dropped session {i}: no row in radiomics.tsv (run `{d.RADIOMICS.command}`)"
               for i in missing]
    keep = [i for i in sessions["id"] if i in table.index]
    features = table.loc[keep, [c for c in table.columns if c not in RADIOMICS_ID_COLUMNS]]
    return features, dropped


def family_features(bids_dir: Path, sessions: pd.DataFrame, families: tuple[str, ...]
                    ) -> tuple[pd.DataFrame, dict[str, pd.DataFrame], list[str], list[str]]:
    """(sessions kept, family -> feature rows by id, dropped-session lines, notes).

    Every family keeps the same sessions: those with a radiomics row when radiomics runs.
    """
    tables: dict[str, pd.DataFrame] = {}
    dropped: list[str] = []
    notes: list[str] = []
    if "radiomics" in families:
        tables["radiomics"], dropped = read_radiomics(bids_dir, sessions)
        sessions = sessions[sessions["id"].isin(tables["radiomics"].index)]
    if "rules" in families:
        columns = [c for c in LEARNED if c in sessions.columns]
        if columns:  # with PET RANO's score and the dynamic test's columns when present
            columns += [c for c in (petrano.SCORE, *DYNAMIC)
                        if c in sessions.columns and c not in columns]
            tables["rules"] = sessions.set_index("id")[columns]
        else:
            notes.append(f"rules: cohort.tsv has none of {', '.join(LEARNED)}; skipped")
    if not tables and set(families) <= set(TABULAR_FAMILIES):
        raise InputError("no family has features", path=d.COHORT_TABLE.path(bids_dir),
                         fix=f"run `{d.QUANT.command}` (rules) or `{d.RADIOMICS.command}`")
    return sessions.reset_index(drop=True), tables, dropped, notes


def load_families(sessions: pd.DataFrame, tables: dict[str, pd.DataFrame], target: str,
                  use_site: bool) -> dict[str, tuple[TabularData, InputReport]]:
    """Each family's table checked by `gliopet.classify.tables.load_tabular` (same rows)."""
    positive = TARGETS[target].positive
    labels = pd.DataFrame({"id": sessions["id"], "subject": sessions["participant_id"],
                           "label": np.where(sessions["label"] == 1, positive, "negative")})
    if use_site:
        labels["site"] = sessions["site"].to_numpy()
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        write = Path(tmp)
        labels.to_csv(write / "labels.tsv", sep="\t", index=False, na_rep="n/a")
        for family, features in tables.items():
            # copy(): one consolidated block (the column-by-column table is fragmented)
            frame = features.loc[sessions["id"]].copy().rename_axis("id").reset_index()
            frame.to_csv(write / f"{family}.tsv", sep="\t", index=False, na_rep="n/a")
            data, report = load_tabular(write / f"{family}.tsv", write / "labels.tsv", "label",
                                        id_column="id", positive=positive,
                                        group_column="site" if use_site else None,
                                        subject_column="subject")
            if list(data.ids) != list(sessions["id"]):
                raise InputError(f"the {family} table lost sessions while being checked",
                                 fix="see the dropped rows of the input report")
            out[family] = (data, report)
    return out


def read_posteriors(bids_dir: Path, key: str) -> dict[str, float]:
    """Session id (`session_key`) -> true posterior `key` of every phantom session storing it."""
    return {session_key(f"sub-{sub}", f"ses-{ses}"): value
            for (sub, ses), value in true_posteriors(bids_dir, key).items()}


def bayes_ceiling(predictions: pd.DataFrame, posteriors: dict[str, float], *, seed: int,
                  n_boot: int) -> pd.DataFrame:
    """Per evaluation: AUC of the true posterior on its sessions, with a bootstrap 95 % CI."""
    rows = []
    for evaluation, group in predictions.groupby("evaluation", sort=False):
        labels = group.groupby("id", sort=True)["label"].first()
        post = np.array([posteriors.get(i, np.nan) for i in labels.index])
        row = {"evaluation": evaluation, "bayes_n": int(np.isfinite(post).sum()),
               "bayes_auc": np.nan, "bayes_auc_ci_low": np.nan, "bayes_auc_ci_high": np.nan}
        y = labels.to_numpy(int)
        if np.isfinite(post).all() and 0 < y.sum() < len(y):
            stats = bootstrap_metrics(y, post, 0.5, seed=seed, n_boot=n_boot).loc["auc"]
            row.update(bayes_auc=stats["estimate"], bayes_auc_ci_low=stats["ci_low"],
                       bayes_auc_ci_high=stats["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows)


@dataclass
class CohortRun:
    """Everything `gliopet.classify.cohort_report.write_cohort_outputs` writes."""

    opts: CohortOptions
    sessions: pd.DataFrame
    data: dict[str, TabularData]
    reports: dict[str, InputReport]
    models: dict[str, BaseEstimator]
    family_of: dict[str, str]
    evaluation: Evaluation
    fitted: dict[str, BaseEstimator]
    explanations: dict[str, pd.DataFrame]
    notes: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    posteriors: dict[str, float] | None = None
    tracer: str | None = None
    saliency: list = field(default_factory=list)  # image_cohort.SaliencyCase, out of fold
    channels: dict[str, list[str]] = field(default_factory=dict)  # image family -> channels
    label_efficiency: pd.DataFrame | None = None
    sanity: list[dict] = field(default_factory=list)  # randomisation check of image models


def _tabular_options(opts: CohortOptions, family: str, tracer: str | None) -> TabularOptions:
    return TabularOptions(features=d.COHORT_TABLE.path(opts.bids_dir), labels=None,
                          target=opts.target, out=opts.out, seed=opts.seed,
                          group_column="site", models=("rules",) if family == "rules"
                          else opts.classifiers, tracer=tracer, inner_folds=opts.inner_folds,
                          harmonize=opts.harmonize and family == "radiomics",
                          rules_task="progression" if opts.target == "outcome" else "other")


def _single_tracer(sessions: pd.DataFrame) -> str | None:
    if "tracer" not in sessions.columns:
        return None
    tracers = sessions["tracer"].dropna().astype(str).unique()
    return str(tracers[0]) if len(tracers) == 1 else None


def _sites(opts: CohortOptions, sessions: pd.DataFrame) -> tuple[pd.DataFrame, bool, list[str]]:
    """(sessions with a site, whether sites are used, dropped lines)."""
    needed = opts.external_site is not None or opts.harmonize
    if "site" not in sessions.columns:
        if needed:
            raise InputError("cohort.tsv has no site column, needed by --external-site and "
                             "--harmonize", path=d.COHORT_TABLE.path(opts.bids_dir),
                             fix="add site to participants.tsv or sub-<s>_sessions.tsv")
        return sessions, False, []
    no_site = sessions["site"].isna()
    dropped = [f"dropped session {i}: no site" for i in sessions.loc[no_site, "id"]]
    return sessions[~no_site].reset_index(drop=True), True, dropped


def _prepare(opts: CohortOptions) -> CohortRun:
    """Sessions, labels and the checked table of every family (nothing evaluated yet)."""
    check_cohort_options(opts)
    families, notes = check_families(opts.families, opts.foundation_model)
    if opts.out.exists() and any(opts.out.iterdir()) and not opts.force:
        raise InputError("the output folder exists and is not empty", path=opts.out,
                         fix="give a new folder, or --force to replace it")
    sessions, dropped = read_sessions(opts.bids_dir, opts.target, opts.session)
    sessions, petrano_notes = _petrano(opts, sessions)
    notes = notes + petrano_notes
    sessions, use_site, no_site = _sites(opts, sessions)
    sessions, tables, lost, family_notes = family_features(opts.bids_dir, sessions, families)
    images, no_images, image_notes = _image_sessions(opts.bids_dir, sessions, families)
    sessions = sessions[sessions["id"].isin(images)].reset_index(drop=True) if images else sessions
    loaded = load_families(sessions, tables, opts.target, use_site)
    posteriors = None
    if d.TRUTH.root(opts.bids_dir).is_dir():
        posteriors = read_posteriors(opts.bids_dir, TARGETS[opts.target].posterior)
    run = CohortRun(opts, sessions, {f: v[0] for f, v in loaded.items()},
                    {f: v[1] for f, v in loaded.items()}, {}, {}, Evaluation(pd.DataFrame(),
                                                                            pd.DataFrame()),
                    {}, {}, notes + family_notes + image_notes,
                    dropped + no_site + lost + no_images, posteriors, _single_tracer(sessions))
    _load_images(run, [f for f in families if f not in TABULAR_FAMILIES and images], use_site)
    if not run.data:
        raise InputError("no family has input: " + " ; ".join(run.notes),
                         fix="run the families rules and radiomics (--families rules,radiomics)")
    return run


def _petrano(opts: CohortOptions, sessions: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Sessions with PET RANO 1.0's baseline and score (progression at recurrence only)."""
    if opts.target != "outcome" or opts.session != "recurrence" or "rules" not in opts.families:
        return sessions, []
    if "BTV_mL" not in sessions.columns:
        return sessions, [f"{petrano.RULE_NAME}: cohort.tsv has no BTV_mL column; not run"]
    cohort = read_table(d.COHORT_TABLE.path(opts.bids_dir))
    sessions = petrano.add_baseline(sessions, cohort, session_kind)
    missing = petrano.not_assessable(sessions)
    if not missing:
        return sessions, []
    if len(missing) == len(sessions):
        return sessions.drop(columns=[petrano.SCORE]), [
            f"{petrano.RULE_NAME}: no session assessable (" + "; ".join(missing[:3])
            + (" ..." if len(missing) > 3 else "") + "); not run"]
    return sessions, [f"{petrano.RULE_NAME}: {len(missing)} session(s) not assessable, given the "
                      "training rows' median score: " + "; ".join(missing)]


def _image_sessions(bids_dir: Path, sessions: pd.DataFrame, families: tuple[str, ...]
                    ) -> tuple[list[str], list[str], list[str]]:
    """(ids with learning-grid images, dropped lines, notes) when an image family runs.

    No id (and a note per image family) when no session has images; the families share the
    sessions, so sessions without images are dropped from every family otherwise.
    """
    wanted = [f for f in families if f not in TABULAR_FAMILIES]
    if not wanted:
        return [], [], []
    from gliopet.foundation.data import session_files

    has = [i for i, p, s in zip(sessions["id"], sessions["participant_id"],
                                sessions["session_id"], strict=True)
           if session_files(bids_dir, (p, s)) is not None]
    if not has:
        return [], [], [f"{f}: {NO_IMAGES}" for f in wanted]
    dropped = [f"dropped session {i}: no learning-grid images (run `gliopet preprocess`)"
               for i in sessions["id"] if i not in set(has)]
    return has, dropped, []


def _load_images(run: CohortRun, families: list[str], use_site: bool) -> None:
    """The image table of every image family (the same crops) into `run`."""
    if not families:
        return
    from gliopet.classify.image_cohort import image_data
    from gliopet.classify.tables import InputReport

    data, channels, centres = image_data(run.opts.bids_dir, run.sessions, use_site,
                                         run.opts.crop_voxels)
    counts = centres.value_counts()
    run.notes.append("image crops centred on: " + ", ".join(f"{k} ({v} sessions)"
                                                             for k, v in counts.items()))
    for family in families:
        run.data[family], run.channels[family] = data, channels
        run.reports[family] = InputReport(TARGETS[run.opts.target].positive)


def evaluate_cohort(opts: CohortOptions) -> CohortRun:
    """Read the derivatives, evaluate every family on the same folds, fit the final models."""
    run = _prepare(opts)
    parts = []
    for family, data in run.data.items():
        if family not in TABULAR_FAMILIES:
            parts.append(_evaluate_image_family(run, family, data))
            continue
        models = build_models(data, _tabular_options(opts, family, run.tracer))
        if family == "rules" and opts.target == "outcome":  # do dynamic features add?
            models.update(dynamic_models(list(data.X.columns)))
        if family == "radiomics":
            models = {f"radiomics-{k}": m for k, m in models.items()}
        run.models.update(models)
        run.family_of.update({name: family for name in models})
        parts.append(nested_cv(models, data, n_splits=opts.folds, n_repeats=opts.repeats,
                               seed=opts.seed, n_jobs=opts.jobs))
        if opts.external_site is not None:
            parts.append(external_validation(models, data, opts.external_site, seed=opts.seed,
                                             n_jobs=opts.jobs))
        final = final_data(opts, data)
        for name, prototype in models.items():
            model = prototype.__class__(**prototype.get_params())
            model.fit(final.X, final.y, groups=final.subjects, sites=final.sites)
            run.fitted[name] = model
            run.explanations[name] = model.explain(data.X, sites=data.sites)
    run.evaluation = Evaluation(pd.concat([p.predictions for p in parts], ignore_index=True),
                                pd.concat([p.selections for p in parts], ignore_index=True))
    if opts.label_fractions:
        run.label_efficiency = _label_efficiency(run)
    return run


def final_data(opts: CohortOptions, data: TabularData) -> TabularData:
    """Rows of the saved models' fit: all, or those of the training sites (`FINAL_FITS`)."""
    if opts.final_fit != "training-sites":
        return data
    return data.subset(external_rows(data, opts.external_site)[0])


def _label_efficiency(run: CohortRun) -> pd.DataFrame:
    """Label-efficiency rows of every model (its family's table, the shared folds)."""
    from gliopet.classify.label_efficiency import label_efficiency

    o, parts = run.opts, []
    for family, data in run.data.items():
        models = {n: m for n, m in run.models.items() if run.family_of[n] == family}
        repeats = o.repeats if family in TABULAR_FAMILIES else max(1, min(o.repeats,
                                                                          o.image_repeats))
        parts.append(label_efficiency(models, data, o.label_fractions, n_splits=o.folds,
                                      n_repeats=repeats, seed=o.seed, n_boot=o.n_boot)
                     .assign(family=family))
    return pd.concat(parts, ignore_index=True)


def _evaluate_image_family(run: CohortRun, family: str, data: TabularData) -> Evaluation:
    """Outer CV of an image family on the shared folds, out-of-fold maps, the final fit."""
    from gliopet.classify.image_cohort import evaluate_images, image_models, sanity_rows

    o = run.opts
    models = image_models(family, run.channels[family], foundation_model=o.foundation_model,
                          foundation_mode=o.foundation_mode, cnn_epochs=o.cnn_epochs,
                          seed=o.seed)
    run.models.update(models)
    run.family_of.update({name: family for name in models})
    evaluation, cases = evaluate_images(
        models, data, run.channels[family], n_splits=o.folds,
        n_repeats=max(1, min(o.repeats, o.image_repeats)), seed=o.seed,
        external_site=o.external_site, methods=o.saliency)
    run.saliency += cases
    final = final_data(o, data)
    for name, prototype in models.items():
        run.fitted[name] = prototype.__class__(**prototype.get_params()).fit(
            final.X, final.y, groups=final.subjects, sites=final.sites)
        run.sanity += sanity_rows(name, run.fitted[name], data, o.seed)
    return evaluation
