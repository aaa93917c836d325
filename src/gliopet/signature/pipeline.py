"""`gliopet signature`: habitats, signature, aggressiveness map and subregion of every session,
the cohort table, and (``--out``) the association study.

Order of work (`run_signature`):

1. the sessions of one kind (``--session diagnosis``; ``all`` for every PET session);
2. the model: loaded (``--model DIR``: a new patient with a saved model), or fitted here on the
   selected sessions with a tumour: habitats (`gliopet.signature.habitats`) on their pooled
   voxels, then the supervised attribution on their signatures and the aggressiveness label of
   quantification's cohort.tsv when both classes have enough sessions
   (`gliopet.signature.localise`), else the unsupervised kinetic fallback; ``--save-model DIR``
   keeps it;
3. per session, on the stage runner (`SignatureStage`): the PET-grid outputs of the derivatives
   contract (SIGNATURE_HABITATS, AGGRESSIVENESS_MAP, AGGRESSIVE_MASK) and the row (SIGNATURE_ROW);
   a session whose tumour VOI is empty gets a row saying so and no images;
4. signature.tsv (SIGNATURE_TABLE) with a sidecar describing every column;
5. with ``--out``: the association study of the signature against the markers, the habitats
   refitted inside every training fold of the multivariable models (no leakage).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gliopet import DISCLAIMER
from gliopet.config import Config, load_config
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import Session
from gliopet.signature import labels as lab
from gliopet.signature.association import AssociationOptions, FoldFeatures, associate
from gliopet.signature.features import SessionVoxels, check_space, load_session
from gliopet.signature.model import SessionMaps, SignatureModel, load_model
from gliopet.stage import (
    Outcome,
    SessionContext,
    SessionWriter,
    Stage,
    has_pet,
    require_finished,
    run_stage,
)

#: Status of a session whose tumour VOI is empty.
NO_TUMOUR = "no PET-avid tumour (empty tumour VOI of gliopet quantify): no habitats, no map"
#: First columns of signature.tsv, with their descriptions.
ID_COLUMNS = {
    "participant_id": "subject (sub-<label>)",
    "session_id": "session (ses-<label>)",
    "tumour_status": "ok, or why the session has no signature",
    "space": "feature space of the habitats (kinetic, embedding, both)",
    "n_habitats": "number of habitats of the model (BIC selection)",
    "model_id": "first 12 hex digits of the SHA-256 of the model card (one model per table)",
    "aggressiveness_source": "supervised (association model's attributions) or "
                             "unsupervised-kinetic (fallback without a model or label)",
    "aggressiveness_detail": "label of the supervised model, or the terms of the fallback score",
    "subregion_volume_mL": "volume of the aggressive subregion (mL)",
    "subregion_fraction": "subregion volume / tumour volume",
    "subregion_note": "rule that made the subregion",
}
#: Kinetic features first, in this order (then the other TBR windows, then the embedding).
FEATURE_ORDER = ("SUV", "TTP", "slope", "earlylate")


def session_kind(session: str | None) -> str:
    """Kind of a session label: ``recurrence2`` -> ``recurrence``."""
    return re.sub(r"[-_]?\d+$", "", str(session or "").removeprefix("ses-"))


def model_id(model: SignatureModel) -> str:
    """Short hash of the model card (identifies the model in every row)."""
    card = json.dumps(model.describe(), sort_keys=True, default=str)
    return hashlib.sha256(card.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class SignatureResult:
    """One session's row and the files read."""

    row: dict[str, Any]
    inputs: list[Path]


@dataclass
class SignatureStage(Stage[SignatureResult]):
    """The per-session part of `gliopet signature` (module docstring, step 3)."""

    model: SignatureModel
    kind: str = "diagnosis"

    folder = d.SIGNATURE
    row_file = d.SIGNATURE_ROW
    command = "gliopet signature"
    done_verb = "signed"
    tables = (d.SIGNATURE_TABLE.filename,)

    def applies(self, session: Session) -> bool:
        """PET sessions of the chosen kind."""
        return has_pet(session) and self.kind in ("all", session_kind(session.session))

    def check(self, session: Session, root: Path) -> None:
        """Quantification must have finished for the session."""
        require_finished(d.QUANT, root, session, detail=" (no tumour VOI)",
                         fix="run `gliopet quantify` on the dataset first")

    def run_session(self, session: Session, context: SessionContext) -> SignatureResult:
        """Habitats, map, subregion and row of one session."""
        voxels = load_session(context.root, session, self.model.space)
        row = _base_row(session, self.model)
        if voxels.n_voxels == 0:
            return SignatureResult({**row, "tumour_status": NO_TUMOUR}, voxels.inputs)
        maps = self.model.apply(voxels)
        _write_maps(SessionWriter(context.out, (session.subject, session.session)), voxels,
                    maps, self.model)
        return SignatureResult({**row, **_map_row(voxels, maps),
                                **self.model.signature(voxels)}, voxels.inputs)

    def row(self, result: SignatureResult) -> dict[str, Any]:
        """The signature.tsv row (missing values as JSON null, written n/a in the table)."""
        return {k: None if isinstance(v, float) and not np.isfinite(v) else v
                for k, v in result.row.items()}

    def inputs(self, session: Session, result: SignatureResult) -> list[Path]:
        """Files read."""
        return result.inputs

    def session_provenance(self, session: Session, context: SessionContext) -> dict[str, Any]:
        """The model card."""
        return {"signature_model": self.model.describe()}

    def write_tables(self, root: Path, outcomes: list[Outcome]) -> pd.DataFrame | None:
        """signature.tsv (+ sidecar) from every finished session folder."""
        if not any(o.ok for o in outcomes):
            return None
        return write_table(root)


def _base_row(session: Session, model: SignatureModel) -> dict[str, Any]:
    return {"participant_id": f"sub-{session.subject}", "session_id": f"ses-{session.session}",
            "tumour_status": "ok", "space": model.space, "n_habitats": model.k,
            "model_id": model_id(model), "aggressiveness_source": "n/a",
            "aggressiveness_detail": "n/a", "subregion_volume_mL": 0.0,
            "subregion_fraction": 0.0, "subregion_note": "n/a"}


def _map_row(voxels: SessionVoxels, maps: SessionMaps) -> dict[str, Any]:
    volume = float(maps.subregion.sum()) * voxels.voxel_ml
    return {"aggressiveness_source": maps.source, "aggressiveness_detail": maps.detail,
            "subregion_volume_mL": volume,
            "subregion_fraction": float(maps.subregion.sum()) / max(voxels.n_voxels, 1),
            "subregion_note": maps.note}


def _write_maps(out: SessionWriter, voxels: SessionVoxels, maps: SessionMaps,
                model: SignatureModel) -> None:
    legend = {str(k): f"habitat {k}" for k in range(1, model.k + 1)}
    out.image(d.SIGNATURE_HABITATS, maps.habitats, voxels.affine, dtype=np.uint8,
              sidecar={"Labels": {"0": "outside the tumour VOI", **legend},
                       "Space": model.space, "Habitats": model.habitats_.describe()})
    out.image(d.AGGRESSIVENESS_MAP, maps.aggressiveness, voxels.affine, dtype=np.float32,
              sidecar={"Units": "unitless", "Range": "[0, 1] inside the tumour, 0 outside",
                       "Source": maps.source, "Detail": maps.detail,
                       "Description": d.AGGRESSIVENESS_MAP.description,
                       "Disclaimer": DISCLAIMER})
    out.image(d.AGGRESSIVE_MASK, maps.subregion.astype(np.uint8), voxels.affine, dtype=np.uint8,
              sidecar={"Rule": maps.note, "Source": maps.source,
                       "MinVolume_mL": model.min_volume_ml, "MaxFraction": model.max_fraction})


# ---------------------------------------------------------------------------- the table
def write_table(root: str | Path) -> pd.DataFrame:
    """(Re)write signature.tsv and its sidecar from every finished session folder."""
    from gliopet.atomic import write_json, write_tsv

    root = Path(root)
    rows = [json.loads(p.read_text()) for p in d.find_every_session(root, d.SIGNATURE_ROW)
            if (p.parent / d.PROVENANCE).is_file()]
    table = pd.DataFrame(rows)
    elements = [c for c in table.columns if c not in ID_COLUMNS]
    table = table[[c for c in ID_COLUMNS if c in table.columns] + elements]
    write_tsv(d.SIGNATURE_TABLE.path(root), table)
    sidecar: dict[str, Any] = {k: {"Description": v} for k, v in ID_COLUMNS.items()}
    sidecar.update({c: {"Description": describe_element(c)} for c in elements})
    models = sorted(set(table.get("model_id", pd.Series(dtype=str)).dropna()))
    sidecar["Note"] = (DISCLAIMER + " Labels: join with quant/cohort.tsv on participant_id and "
                       "session_id." + (" WARNING: rows come from several models (model_id): "
                                        "rerun `gliopet signature --force`" if len(models) > 1
                                        else ""))
    write_json(d.SIGNATURE_TABLE.sidecar(root), sidecar)
    return table


def describe_element(column: str) -> str:
    """Words for a signature column (``hab2_mean_TTP`` -> mean TTP of habitat 2)."""
    match = re.match(r"^hab(\d+)_(fraction|volume_mL|mean_(.+))$", column)
    if column == "tumour_volume_mL":
        return "tumour VOI volume (mL)"
    if match is None:
        return "signature element"
    k, kind, feature = match.group(1), match.group(2), match.group(3)
    if kind == "fraction":
        return f"fraction of tumour voxels in habitat {k}"
    if kind == "volume_mL":
        return f"volume of habitat {k} (mL)"
    return f"mean of {feature} over the voxels of habitat {k} (feature units; n/a: habitat absent)"


# ---------------------------------------------------------------------------- the cohort
@dataclass
class SignatureOptions:
    """Everything `gliopet signature` takes (see the command's help)."""

    bids_dir: Path
    space: str | None = None
    session: str = "diagnosis"
    markers: list[str] | None = None
    model_dir: Path | None = None
    save_model: Path | None = None
    out: Path | None = None
    participant_label: list[str] | None = None
    force: bool = False
    jobs: int = 1
    n_boot: int = 2000
    folds: int = 5
    repeats: int = 1
    config: Config | None = None
    notes: list[str] = field(default_factory=list)


def select_sessions(opts: SignatureOptions, config: Config) -> list[Session]:
    """PET sessions of the chosen kind (module docstring, step 1)."""
    from gliopet.io.validate import usable_sessions

    sessions = usable_sessions(opts.bids_dir, opts.participant_label, config)
    chosen = [s for s in sessions if s.pet is not None and
              opts.session in ("all", session_kind(s.session))]
    if not chosen:
        kinds = sorted({session_kind(s.session) for s in sessions if s.pet is not None})
        raise InputError(f"no PET session of kind {opts.session!r} (kinds: "
                         f"{', '.join(kinds) or 'none'})", path=opts.bids_dir,
                         fix="choose --session among these kinds, or all")
    return chosen


def common_features(sessions: list[SessionVoxels]) -> list[str]:
    """Features every session has, kinetic first (`FEATURE_ORDER`, then TBR, then embedding)."""
    shared = set.intersection(*(set(s.features) for s in sessions))
    rank = {name: i for i, name in enumerate(FEATURE_ORDER)}
    return sorted(shared, key=lambda f: (rank.get(f, 10 if f.startswith("TBR") else 20), f))


def _labels_for(bids_dir: Path, keys: list[str]) -> pd.DataFrame | None:
    """cohort.tsv rows of `keys` (index), or None without cohort.tsv."""
    if not d.COHORT_TABLE.path(bids_dir).is_file():
        return None
    cohort = lab.read_cohort(bids_dir)
    cohort.index = cohort["participant_id"] + "_" + cohort["session_id"]
    return cohort.reindex(keys)


def fit_model(opts: SignatureOptions, sessions: list[Session], config: Config
              ) -> tuple[SignatureModel, list[SessionVoxels]]:
    """Fit the habitats and the attribution on the selected sessions (step 2)."""
    space = check_space(opts.space or "kinetic")
    voxels = [load_session(opts.bids_dir, s, space) for s in sessions]
    training = [v for v in voxels if v.n_voxels]
    if not training:
        raise InputError("no selected session has tumour voxels: nothing to fit habitats on",
                         path=d.QUANT.root(opts.bids_dir),
                         fix="check quantification's tumour VOIs (voi_source in quant.tsv)")
    model = SignatureModel(space, common_features(training), seed=config.seed)
    model.fit(training)
    signatures = model.transform(training)
    cohort = _labels_for(opts.bids_dir, list(signatures.index))
    if cohort is None:
        opts.notes.append("no cohort.tsv: unsupervised kinetic aggressiveness map")
    elif not model.fit_attribution(signatures, lab.aggressive_label(cohort),
                                   lab.AGGRESSIVE_LABEL):
        opts.notes.append("fewer than 3 sessions of each aggressiveness class: unsupervised "
                          "kinetic aggressiveness map")
    if opts.save_model:
        model.save(opts.save_model)
    return model, training


def _loaded_model(opts: SignatureOptions) -> SignatureModel:
    model = load_model(opts.model_dir)
    if opts.space and opts.space != model.space:
        raise InputError(f"--space {opts.space} differs from the saved model's space "
                         f"{model.space}", path=opts.model_dir,
                         fix=f"drop --space or give --space {model.space}")
    return model


def refit_folds(template: SignatureModel, voxels: list[SessionVoxels]
                ) -> Callable[[np.ndarray], FoldFeatures]:
    """Fold features that refit the habitats on each training fold (no leakage)."""

    def for_rows(rows: np.ndarray) -> FoldFeatures:
        chosen = [voxels[i] for i in rows]

        def fold(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            model = SignatureModel(template.space, list(template.features), seed=template.seed,
                                   k_range=template.k_range)
            model.fit([chosen[i] for i in train])
            return (model.transform([chosen[i] for i in train]).to_numpy(float),
                    model.transform([chosen[i] for i in test]).to_numpy(float))

        return fold

    return for_rows


def run_association(opts: SignatureOptions, table: pd.DataFrame, config: Config,
                    refit: Callable[[np.ndarray], FoldFeatures] | None) -> Path:
    """The association study of signature.tsv against cohort.tsv's markers (step 5)."""
    from gliopet.signature.report import write_study

    ok = table
    keys = list(ok["participant_id"] + "_" + ok["session_id"])
    cohort = _labels_for(opts.bids_dir, keys)
    if cohort is None:
        raise InputError("quantification's cohort table is missing (the markers)",
                         path=d.COHORT_TABLE.path(opts.bids_dir),
                         fix=f"run `{d.QUANT.command}` on the dataset first")
    cohort = cohort.reset_index(drop=True)
    markers = lab.check_markers(cohort, opts.markers, d.COHORT_TABLE.path(opts.bids_dir))
    elements = [c for c in ok.columns if c not in ID_COLUMNS]
    aopts = AssociationOptions(seed=config.seed, n_boot=opts.n_boot, folds=opts.folds,
                               repeats=opts.repeats)
    result = associate(ok[elements].astype(float), lab.coded_markers(cohort, markers),
                       ok["participant_id"].to_numpy(), aopts, refit)
    context = [f"Dataset: {opts.bids_dir}; {len(ok)} sessions ({opts.session}); feature space "
               f"{ok['space'].iloc[0]}; {ok['n_habitats'].iloc[0]} habitats.",
               "Multivariable models: habitats " + ("refitted inside every training fold."
                                                    if refit else "from the saved model "
                                                    "(fitted on other sessions).")]
    return write_study(opts.out, result, aopts, context,
                       {"command": "gliopet signature", "config": config.as_dict(),
                        "inputs": [d.SIGNATURE_TABLE.path(opts.bids_dir),
                                   d.COHORT_TABLE.path(opts.bids_dir)],
                        "extra": {"markers": markers, "notes": opts.notes}})


def run_signature(opts: SignatureOptions) -> pd.DataFrame | None:
    """`gliopet signature` (module docstring); returns signature.tsv.

    Raises
    ------
    InputError
        No session of the kind, no tumour voxels to fit on, a missing embedding for the
        embedding spaces, a saved model that does not fit the options, a marker column absent,
        or failed sessions (after the others are done and the table written).
    """
    config = opts.config or load_config()
    sessions = select_sessions(opts, config)
    voxels: list[SessionVoxels] | None = None
    if opts.model_dir:
        model = _loaded_model(opts)
    else:
        model, voxels = fit_model(opts, sessions, config)
    run = run_stage(SignatureStage(model, opts.session), opts.bids_dir,
                    participant_label=opts.participant_label, jobs=opts.jobs, force=opts.force,
                    config=config, label="signature")
    if opts.out and run.table is not None:
        table = _study_rows(run.table, opts.session, voxels)
        refit = None
        if voxels is not None:
            order = {_voxels_key(v): v for v in voxels}
            keys = list(table["participant_id"] + "_" + table["session_id"])
            refit = refit_folds(model, [order[k] for k in keys])
        run_association(opts, table, config, refit)
    return run.table


def _voxels_key(voxels: SessionVoxels) -> str:
    return f"sub-{voxels.subject}_ses-{voxels.session}"


def _study_rows(table: pd.DataFrame, kind: str, voxels: list[SessionVoxels] | None
                ) -> pd.DataFrame:
    """Rows of the study: tumour sessions of the kind (and, with a model fitted here, those
    it was fitted with)."""
    rows = table[(table["tumour_status"] == "ok") &
                 table["session_id"].map(lambda s: kind in ("all", session_kind(s)))]
    if voxels is not None:
        keys = {_voxels_key(v) for v in voxels}
        rows = rows[(rows["participant_id"] + "_" + rows["session_id"]).isin(keys)]
    return rows.reset_index(drop=True)


def run_features(features_path: Path, labels_path: Path | None, markers: Sequence[str] | None,
                 out: Path, *, subject_column: str = "participant_id", n_boot: int = 2000,
                 folds: int = 5, repeats: int = 1, config: Config | None = None) -> Path:
    """The association study on any feature table (``--features``): every numeric column
    that is not a marker or an id is a feature; labels from `labels_path` (joined on the id
    columns both tables share) or from the feature table itself."""
    from gliopet.signature.report import write_study

    config = config or load_config()
    table = _read_any(features_path)
    if labels_path is not None:
        labels = _read_any(labels_path)
        on = [c for c in ("participant_id", "session_id") if c in table and c in labels]
        if not on:
            raise InputError("the feature and label tables share no participant_id or "
                             "session_id column", path=labels_path,
                             fix="give both tables a participant_id column")
        table = table.merge(labels[[c for c in labels.columns if c not in table or c in on]],
                            on=on, how="inner")
    chosen = lab.check_markers(table, list(markers) if markers else None, labels_path or
                               features_path)
    skip = set(chosen) | set(ID_COLUMNS) | set(lab.DEFAULT_MARKERS) | {subject_column}
    feats = table[[c for c in table.columns if c not in skip]].apply(pd.to_numeric,
                                                                     errors="coerce")
    feats = feats.loc[:, feats.notna().any()]
    groups = (table[subject_column] if subject_column in table
              else pd.Series(np.arange(len(table)))).astype(str).to_numpy()
    aopts = AssociationOptions(seed=config.seed, n_boot=n_boot, folds=folds, repeats=repeats)
    result = associate(feats, lab.coded_markers(table, chosen), groups, aopts)
    context = [f"Feature table: {features_path} ({len(table)} rows, {feats.shape[1]} "
               "numeric features); folds by " + (subject_column if subject_column in table
                                                 else "row") + "."]
    return write_study(out, result, aopts, context,
                       {"command": "gliopet signature associate", "config": config.as_dict(),
                        "inputs": [p for p in (features_path, labels_path) if p],
                        "extra": {"markers": chosen}})


def _read_any(path: Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="give an existing tsv or csv file")
    sep = "\t" if path.suffix.lower() in (".tsv", ".txt") else ","
    return pd.read_csv(path, sep=sep, na_values=["n/a", "NA", ""], keep_default_na=False)
