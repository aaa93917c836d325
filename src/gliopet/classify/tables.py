"""Reading a feature table and a label table for `gliopet classify tabular`, with every check.

One row per patient, an id column shared by both files; csv, tsv or xlsx; labels 0/1 or text
(``positive`` names the positive class). What this module does with bad input:

- refused with an `InputError` (file, problem, fix): an unreadable file or format, a missing
  id or target column, duplicated ids, no id in common between the files, a label column with
  one class (after dropping missing labels), text labels with more than two classes or without
  ``positive``, fewer than 10 patients or than 3 of a class;
- dropped and listed in the `InputReport`: rows without a label, ids present in one file only,
  rows without a site when a group column is used, feature columns that are not numeric, that
  are empty (every value missing) or constant over all patients (label-free checks, identical
  in any fold, so dropping them on the whole table leaks nothing);
- imputed inside the training folds (median, `gliopet.classify.selection`): a feature value
  missing for some patients.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from gliopet.errors import InputError

MISSING = ["n/a", "NA", "N/A", "NaN", "nan", ""]
MIN_PATIENTS = 10
MIN_PER_CLASS = 3


@dataclass
class TabularData:
    """Features and labels of one cohort, rows aligned (one row per patient)."""

    X: pd.DataFrame
    y: np.ndarray
    ids: np.ndarray
    subjects: np.ndarray
    sites: np.ndarray | None = None
    covariates: list[str] = field(default_factory=list)

    def subset(self, rows: np.ndarray) -> TabularData:
        """The rows `rows` (integer positions)."""
        return TabularData(self.X.iloc[rows].reset_index(drop=True), self.y[rows],
                           self.ids[rows], self.subjects[rows],
                           None if self.sites is None else self.sites[rows], self.covariates)


@dataclass
class InputReport:
    """What was dropped from the input, and why (printed and written beside the results)."""

    positive: str
    dropped_rows: list[tuple[str, str]] = field(default_factory=list)
    dropped_columns: list[tuple[str, str]] = field(default_factory=list)
    imputed_columns: list[tuple[str, int]] = field(default_factory=list)

    def lines(self) -> list[str]:
        """One line per dropped row, dropped column and imputed column."""
        out = [f"positive class: {self.positive}"]
        out += [f"dropped row {i}: {why}" for i, why in self.dropped_rows]
        out += [f"dropped column {c}: {why}" for c, why in self.dropped_columns]
        out += [f"imputed inside the folds (median of the training rows): {c}, {n} missing"
                for c, n in self.imputed_columns]
        return out


def read_table(path: str | Path) -> pd.DataFrame:
    """A csv, tsv or xlsx table with 'n/a', 'NA' and empty cells as missing."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path=path, fix="give an existing csv, tsv or xlsx file")
    suffix = path.suffix.lower()
    try:
        if suffix in (".tsv", ".txt"):
            return pd.read_csv(path, sep="\t", na_values=MISSING, keep_default_na=False)
        if suffix == ".csv":
            return pd.read_csv(path, sep=None, engine="python", na_values=MISSING,
                               keep_default_na=False)
        if suffix in (".xlsx", ".xlsm"):
            return _read_excel(path)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputError(f"cannot be read as a {suffix[1:]} table ({exc})", path=path,
                         fix="check the delimiter and the encoding (UTF-8)") from None
    raise InputError(f"unknown table format {suffix!r}", path=path,
                     fix="give a .csv, .tsv or .xlsx file")


def _read_excel(path: Path) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401  (pandas' xlsx reader)
    except ImportError:
        raise InputError("reading xlsx needs the openpyxl package, which is not installed",
                         path=path, fix="save the sheet as csv, or install openpyxl") from None
    import zipfile

    try:
        return pd.read_excel(path, na_values=MISSING, keep_default_na=False)
    except (zipfile.BadZipFile, ValueError, KeyError, OSError) as exc:
        raise InputError(f"not a readable xlsx workbook ({exc.__class__.__name__})", path=path,
                         fix="open and save it again in a spreadsheet program, or export csv"
                         ) from None


def _require(frame: pd.DataFrame, column: str, path: str | Path, what: str, fix: str) -> None:
    if column not in frame.columns:
        listing = ", ".join(map(str, frame.columns[:12])) + (" ..." if frame.shape[1] > 12 else "")
        raise InputError(f"{what} column {column!r} not found (columns: {listing})", path=path,
                         fix=fix)


def _ids(frame: pd.DataFrame, column: str, path: str | Path) -> pd.Series:
    ids = frame[column].astype("string").str.strip()
    if ids.isna().any():
        raise InputError(f"{int(ids.isna().sum())} rows have no {column!r}", path=path,
                         fix="give every row an id")
    dup = ids[ids.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"the id column {column!r} has duplicated values ({', '.join(dup[:5])})",
                         path=path, fix="one row per patient: aggregate or filter the rows, or "
                                        "choose a unique column with --id-column")
    return ids


def encode_labels(values: pd.Series, positive: str | None,
                  path: str | Path) -> tuple[np.ndarray, str]:
    """0/1 labels and the name of the positive class."""
    text = values.astype("string").str.strip()
    classes = sorted(text.unique().tolist())
    if len(classes) < 2:
        raise InputError(f"the label column {values.name!r} has one class only "
                         f"({classes[0] if classes else 'none'})", path=path,
                         fix="a classifier needs positive and negative patients")
    if positive is None:
        numeric = pd.to_numeric(text, errors="coerce")
        if numeric.notna().all() and set(numeric.unique()) <= {0, 1}:
            return numeric.to_numpy(int), "1"
        raise InputError(f"the labels of {values.name!r} are {classes[:5]}, not 0/1", path=path,
                         fix="name the positive class with --positive")
    if positive not in classes:
        raise InputError(f"--positive {positive!r} is not a value of {values.name!r} "
                         f"({', '.join(classes[:5])})", path=path, fix="give one of these values")
    if len(classes) > 2:
        raise InputError(f"the label column {values.name!r} has {len(classes)} classes "
                         f"({', '.join(classes[:5])})", path=path,
                         fix="binary labels only: merge or remove the other classes")
    return (text == positive).to_numpy(int), positive


def _default_id(feat: pd.DataFrame, lab: pd.DataFrame) -> str:
    if "participant_id" in feat.columns and "participant_id" in lab.columns:
        return "participant_id"
    return str(feat.columns[0])


def _match_ids(fid: pd.Series, lid: pd.Series, paths: tuple[str, str],
               report: InputReport) -> list[str]:
    """Ids in both files, in the order of the features file; the others are listed."""
    in_labels = set(lid)
    common = [i for i in fid if i in in_labels]
    if not common:
        raise InputError(f"no id of the features file is in the labels file (features: "
                         f"{', '.join(fid[:3])} ...; labels: {', '.join(lid[:3])} ...)",
                         path=paths[1], fix="both files need the same id column and values "
                                            "(--id-column)")
    in_features = set(fid)
    report.dropped_rows += [(i, f"no row in the labels file {paths[1]}") for i in fid
                            if i not in in_labels]
    report.dropped_rows += [(i, f"no row in the features file {paths[0]}") for i in lid
                            if i not in in_features]
    return common


def _numeric_columns(frame: pd.DataFrame, report: InputReport) -> pd.DataFrame:
    """Numeric, non-empty, non-constant feature columns; the others dropped and listed."""
    keep = {}
    for name in frame.columns:
        column = pd.to_numeric(frame[name], errors="coerce")
        text = frame[name].notna() & column.isna()
        if text.any():
            example = frame[name][text].iloc[0]
            report.dropped_columns.append((str(name), f"not numeric ({example!r})"))
        elif column.isna().all():
            report.dropped_columns.append((str(name), "empty (every value missing)"))
        elif column.nunique(dropna=True) < 2:
            report.dropped_columns.append((str(name), "constant over all patients"))
        else:
            keep[str(name)] = column.astype(float)
            if column.isna().any():
                report.imputed_columns.append((str(name), int(column.isna().sum())))
    return pd.DataFrame(keep, index=frame.index)


def _covariates(merged: pd.DataFrame, names: list[str], path: str) -> pd.DataFrame:
    """Covariates as numbers: numeric as they are, a two-valued text column as 0/1."""
    out = {}
    for name in names:
        _require(merged, name, path, "covariate", "give columns of the features or labels file")
        values = merged[name]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            out[f"covariate:{name}"] = numeric.astype(float)
            continue
        levels = sorted(values.dropna().astype(str).unique())
        if len(levels) != 2:
            raise InputError(f"covariate {name!r} is text with {len(levels)} values", path=path,
                             fix="give numeric covariates or two-valued text (e.g. sex)")
        out[f"covariate:{name}"] = (values.astype(str) == levels[1]).astype(float).where(
            values.notna())
    return pd.DataFrame(out, index=merged.index)


def load_tabular(features: str | Path, labels: str | Path | None, target: str, *,
                 id_column: str | None = None, positive: str | None = None,
                 group_column: str | None = None, subject_column: str | None = None,
                 covariates: tuple[str, ...] = ()) -> tuple[TabularData, InputReport]:
    """Features and labels joined on the id column, checked (module docstring).

    Parameters
    ----------
    features, labels : paths
        Feature table and label table (``labels=None``: the target is a column of `features`).
    target : str
        Label column. `positive` names its positive class (default: labels 0/1, positive 1).
    id_column : str, optional
        Column shared by both files (default ``participant_id`` when both have it, else the
        first column of the features file).
    group_column : str, optional
        Site (or scanner) column, for harmonisation and external validation.
    subject_column : str, optional
        Column of the subject when a patient has several rows' worth of ids (default: the id).
    covariates : names
        Columns (either file) always given to the model, never selected away.
    """
    feat = read_table(features)
    lab = feat if labels is None else read_table(labels)
    paths = (str(features), str(features if labels is None else labels))
    id_column = id_column or _default_id(feat, lab)
    _require(feat, id_column, paths[0], "id", "name the shared id column with --id-column")
    _require(lab, id_column, paths[1], "id", "name the shared id column with --id-column")
    _require(lab, target, paths[1], "target", "give the label column with --target")
    report = InputReport(positive="")
    common = _match_ids(_ids(feat, id_column, paths[0]), _ids(lab, id_column, paths[1]), paths,
                        report)
    feat.index, lab.index = _ids(feat, id_column, paths[0]), _ids(lab, id_column, paths[1])
    label_values = lab.loc[common, target]
    missing = label_values.isna()
    report.dropped_rows += [(i, f"no label in {target!r}") for i in label_values.index[missing]]
    keep = label_values.index[~missing].tolist()
    extra = [c for c in lab.columns if c not in feat.columns]
    merged = feat.loc[keep].join(lab.loc[keep, extra]) if labels is not None else feat.loc[keep]
    sites = None
    if group_column is not None:
        _require(merged, group_column, paths[0], "group", "give the site column with "
                                                        "--group-column")
        no_site = merged[group_column].isna()
        report.dropped_rows += [(i, f"no value in {group_column!r}") for i in merged.index[no_site]]
        merged = merged.loc[~no_site]
        sites = merged[group_column].astype(str).to_numpy()
    y, report.positive = encode_labels(merged[target].rename(target), positive, paths[1])
    subject_column = subject_column or id_column
    if subject_column != id_column:
        _require(merged, subject_column, paths[0], "subject", "give the subject column")
    subjects = (merged.index.to_numpy() if subject_column == id_column
                else merged[subject_column].astype(str).to_numpy())
    reserved = {id_column, target, group_column, subject_column, *covariates}
    X = _numeric_columns(feat.loc[merged.index, [c for c in feat.columns if c not in reserved]],
                         report)
    cov = _covariates(merged, list(covariates), paths[1])
    X = pd.concat([X, cov], axis=1).reset_index(drop=True)
    data = TabularData(X, y, merged.index.to_numpy().astype(str), subjects.astype(str), sites,
                       list(cov.columns))
    _check_sizes(data, paths[1], target)
    return data, report


def _check_sizes(data: TabularData, path: str, target: str) -> None:
    if data.X.shape[1] == len(data.covariates):
        raise InputError("no usable feature column is left (see the dropped columns)", path=path,
                         fix="give numeric feature columns")
    n_pos, n = int(data.y.sum()), len(data.y)
    if n < MIN_PATIENTS or min(n_pos, n - n_pos) < MIN_PER_CLASS:
        raise InputError(f"{n} patients with a label in {target!r} ({n_pos} positive, "
                         f"{n - n_pos} negative): too few for cross-validation", path=path,
                         fix=f"at least {MIN_PATIENTS} patients and {MIN_PER_CLASS} of each class")
