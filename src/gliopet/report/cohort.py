"""The cohort report: one HTML page over a quantified dataset, PNG figures in ``figures/``.

Sections: dataset summary per site (`cohort.tsv`), QC table (`qc.tsv`), quantification
distributions by group (IDH-wildtype vs IDH-mutant at diagnosis, progression vs treatment-related
change at recurrence; box plots), then the optional results: the WP3 comparison (the folder of
`gliopet classify cohort`: results.tsv, ROC and calibration plots), the WP2 association study and
biopsy targets (signature.tsv, targets.tsv or a `--signature` folder), the foundation-model
evaluation (the folder of `gliopet evaluate-representation`), and links to each patient report
(relative paths). A section whose stage did not run says so and names its command; no figure or
number is invented.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from gliopet.io import derivatives as d
from gliopet.report import figures
from gliopet.report import html as h
from gliopet.report.numbers import fixed, fmt, units

#: Quantities whose distributions are shown by group.
DISTRIBUTIONS = ("TBRmax", "TSRmax", "TTP_min", "BTV_mL")
#: (session kind, label column, groups in order, title).
GROUPINGS = (("diagnosis", "IDH", ("wildtype", "mutant"), "diagnosis: IDH-wildtype vs "
              "IDH-mutant"),
             ("recurrence", "outcome", ("progression", "treatment_change"),
              "recurrence: progression vs treatment-related change"))
QC_SHOWN = ("subject", "session", "site", "status", "pet_mri_nmi", "template_nmi",
            "max_motion_mm", "brain_ml", "flags")
#: Digits after the point of the QC table's numeric columns (one precision per column, so that
#: the values line up: NMI is unitless, motion in mm, brain volume in mL).
QC_DECIMALS = {"pet_mri_nmi": 2, "template_nmi": 2, "max_motion_mm": 2, "brain_ml": 0}
RESULT_COLUMNS = ("model", "evaluation", "n", "auc", "sensitivity", "specificity", "brier",
                  "bayes_auc")
#: Digits after the point of the results table's numeric columns.
RESULT_DECIMALS = {"sensitivity": 2, "specificity": 2, "brier": 3, "bayes_auc": 2}


@dataclass
class CohortInputs:
    """What the cohort report reads: the dataset and the optional result folders."""

    bids_dir: Path
    out: Path
    classify: list[Path] = field(default_factory=list)
    signature: Path | None = None
    foundation: Path | None = None
    patients: Path | None = None


def _read(path: Path) -> pd.DataFrame | None:
    labels = {c: str for c in ("subject", "session", "participant_id", "session_id")}
    return pd.read_csv(path, sep="\t", dtype=labels) if path.is_file() else None


def _kind(session_id: object) -> str:
    text = str(session_id).removeprefix("ses-")
    return next((k for k in ("diagnosis", "recurrence") if text.startswith(k)), text)


def dataset_summary(cohort: pd.DataFrame) -> str:
    """Sessions, subjects, session kinds, IDH and outcome counts per site."""
    table = cohort.assign(kind=cohort["session_id"].map(_kind))
    if "site" not in table.columns:
        table["site"] = "n/a"
    rows = []
    for site, group in table.groupby("site", sort=True):
        kinds = ", ".join(f"{k} {n}" for k, n in group["kind"].value_counts().sort_index().items())
        idh = group.get("IDH", pd.Series(dtype=str)).dropna().value_counts()
        outcome = group.get("outcome", pd.Series(dtype=str)).dropna().value_counts()
        no_tumour = int((group.get("voi_source", pd.Series(dtype=str)) == "none").sum())
        rows.append((site, group["participant_id"].nunique(), len(group), kinds,
                     ", ".join(f"{k} {n}" for k, n in idh.items()) or "n/a",
                     ", ".join(f"{k} {n}" for k, n in outcome.items()) or "n/a", no_tumour))
    header = ("site", "subjects", "sessions", "session kinds", "IDH (subject labels per "
              "session)", "outcome (recurrence)", "sessions without PET-avid tumour")
    return h.table(header, rows)


def qc_section(qc: pd.DataFrame | None) -> str:
    """Every session's QC metrics and flags (flagged rows first)."""
    if qc is None:
        return h.not_run("Preprocessing", "gliopet preprocess BIDS_DIR")
    shown = qc[[c for c in QC_SHOWN if c in qc.columns]].copy()
    flags = shown.get("flags", pd.Series("", index=shown.index)).fillna("").astype(str)
    shown = shown.assign(_flagged=flags != "").sort_values("_flagged", ascending=False,
                                                           kind="stable")
    rows = []
    for record in shown.drop(columns="_flagged").to_dict("records"):
        cells = [h.esc(fixed(v, QC_DECIMALS.get(c))) for c, v in record.items()]
        if "flags" in record:
            text = fmt(record["flags"])
            cells[-1] = ("none" if text == "n/a" else
                         f'<span class="flag">{h.esc(text.replace(";", "; "))}</span>')
        rows.append(cells)
    flagged = int(shown["_flagged"].sum())
    return (h.paragraph(f"{flagged} of {len(shown)} sessions carry a QC flag.")
            + h.table(list(shown.columns.drop("_flagged")), rows, raw=True))


def _save(fig: object, out: Path, name: str) -> str:
    from gliopet.atomic import write_bytes

    path = write_bytes(out / "figures" / name, figures.png_bytes(fig))
    return path.relative_to(out).as_posix()


def distributions(cohort: pd.DataFrame, out: Path) -> str:
    """Box plots of the guideline numbers by group, for each session kind with both groups."""
    parts, notes = [], []
    kinds = cohort["session_id"].map(_kind)
    for kind, column, groups, title in GROUPINGS:
        rows = cohort[(kinds == kind)] if column in cohort.columns else cohort.iloc[:0]
        present = [g for g in groups if (rows[column] == g).any()] if len(rows) else []
        if len(present) < 2:
            parts.append(h.paragraph(f"{title}: fewer than two groups among the {kind} "
                                     "sessions; no comparison shown.", "notrun"))
            continue
        parts.append(f'<h3>{h.esc(title)}</h3><div class="row">')
        for quantity in DISTRIBUTIONS:
            values = {g: pd.to_numeric(rows.loc[rows[column] == g, quantity],
                                       errors="coerce").dropna().to_numpy() for g in present}
            missing = sum(int((rows[column] == g).sum()) - len(values[g]) for g in present)
            values = {f"{g} (n={len(v)})": v for g, v in values.items()}
            unit = units(quantity)
            fig = figures.boxplot_figure(values, quantity, f"{quantity} ({unit})" if unit
                                         else quantity)
            parts.append(h.linked_image(_save(fig, out, f"{kind}_{quantity}.png"),
                                        f"{quantity} by {column}, {kind}"))
            if missing:
                notes.append(f"{quantity}: {missing} {kind} session(s) without a value (no "
                             "PET-avid tumour or static scan) are not drawn.")
        parts.append("</div>")
    return "".join(parts) + "".join(h.paragraph(n) for n in notes)


def classify_section(folder: Path, out: Path, index: int) -> str:
    """One `gliopet classify cohort` folder: results with CIs, ROC and calibration plots."""
    results = _read(folder / "results.tsv")
    if results is None:
        return h.paragraph(f"{folder}: no results.tsv (not a `gliopet classify cohort` "
                           "output folder).", "flag")
    rows = []
    for r in results.to_dict("records"):
        auc = f"{fixed(r.get('auc'), 2)} [{fixed(r.get('auc_ci_low'), 2)}, " \
              f"{fixed(r.get('auc_ci_high'), 2)}]"
        rows.append([auc if c == "auc" else fixed(r.get(c), RESULT_DECIMALS.get(c))
                     for c in RESULT_COLUMNS if c in results.columns or c == "auc"])
    header = [c if c != "auc" else "AUC [95 % CI]" for c in RESULT_COLUMNS
              if c in results.columns or c == "auc"]
    body = h.paragraph(f"Folder: {folder.name}") + h.table(header, rows)
    curves = [png for png in sorted(folder.glob("*.png"))
              if png.name.startswith(("roc_", "calibration_"))]
    return body + h.row([_copied(png, out, f"classify{index}") for png in curves])


def _copied(png: Path, out: Path, prefix: str) -> str:
    """Copy a result folder's PNG into ``out/figures`` and return its image element."""
    target = out / "figures" / f"{prefix}_{png.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(png, target)
    return h.linked_image(target.relative_to(out).as_posix(), png.stem)


def folder_section(folder: Path, out: Path, prefix: str) -> str:
    """A result folder shown as it is: its Markdown summaries (else its tables) and its PNG
    figures."""
    body = ""
    for md in sorted(folder.glob("*.md")):
        body += f"<h3>{h.esc(md.name)}</h3>" + h.markdown(md.read_text())
    tables = sorted(folder.glob("*.tsv"))
    if body and tables:  # the summaries show the tables' content; name the full tables
        body += h.paragraph("Full tables in the folder: " + ", ".join(t.name for t in tables))
        tables = []
    for tsv in tables:
        table = pd.read_csv(tsv, sep="\t")
        body += f"<h3>{h.esc(tsv.name)}</h3>" + h.table(
            list(table.columns), [[fmt(v) for v in row] for row in
                                  table.head(40).itertuples(index=False)])
    body += h.row([_copied(png, out, prefix) for png in sorted(folder.glob("*.png"))])
    return body or h.paragraph(f"{folder}: no summary, table or figure found.", "flag")


def contract_table(path: Path, title: str, command: str) -> str:
    """A stage-level table of the derivatives (signature.tsv, targets.tsv) or a not-run note."""
    table = _read(path)
    if table is None:
        return h.not_run(title, command)
    return f"<h3>{h.esc(title)}</h3>" + h.table(
        list(table.columns), [[fmt(v) for v in row] for row in table.itertuples(index=False)])


def patient_links(out: Path, patients: Path | None) -> str:
    """Links (relative to the report) to every patient report in `patients`."""
    reports = sorted(patients.glob("*_report.html")) if patients and patients.is_dir() else []
    if not reports:
        return h.not_run("Patient reports", "gliopet report patient BIDS_DIR "
                                            "--participant-label X --out DIR")
    import os

    items = "".join(
        f'<li><a href="{h.esc(Path(os.path.relpath(p, out)).as_posix())}">'
        f"{h.esc(p.stem.removesuffix('_report'))}</a></li>" for p in reports)
    return f"<ul>{items}</ul>"


def _optional_sections(inputs: CohortInputs) -> list[str]:
    out, bids = inputs.out, inputs.bids_dir
    classify = ("".join(classify_section(f, out, i) for i, f in enumerate(inputs.classify))
                if inputs.classify else
                h.not_run("The WP3 comparison", "gliopet classify cohort BIDS_DIR --target "
                                                "outcome --session recurrence --out DIR"))
    wp2 = (folder_section(inputs.signature, out, "signature") if inputs.signature else
           contract_table(d.SIGNATURE_TABLE.path(bids), "Signature (association study)",
                          "gliopet signature BIDS_DIR"))
    wp2 += contract_table(d.BIOPSY_TABLE.path(bids), "Biopsy targets", "gliopet biopsy BIDS_DIR")
    foundation = (folder_section(inputs.foundation, out, "foundation") if inputs.foundation
                  else h.not_run("The foundation-model evaluation", "gliopet "
                                 "evaluate-representation BIDS_DIR --model CKPT --out DIR"))
    return [h.section("WP3: progression classifiers compared", classify, "classify"),
            h.section("WP2: association study and biopsy targets", wp2, "signature"),
            h.section("Foundation model evaluation", foundation, "foundation")]


def render_cohort(inputs: CohortInputs) -> str:
    """The cohort report's HTML (figures written under ``inputs.out/figures``)."""
    cohort = _read(d.COHORT_TABLE.path(inputs.bids_dir))
    if cohort is None:
        from gliopet.errors import InputError

        raise InputError("quantification's cohort table is missing",
                         path=d.COHORT_TABLE.path(inputs.bids_dir),
                         fix="run `gliopet quantify` on the dataset first")
    qc = _read(d.QC_TABLE.path(inputs.bids_dir))
    body = [h.section("Dataset", dataset_summary(cohort), "dataset"),
            h.section("Quality control", qc_section(qc), "qc"),
            h.section("Quantification by group", distributions(cohort, inputs.out), "quant"),
            *_optional_sections(inputs),
            h.section("Patient reports", patient_links(inputs.out, inputs.patients),
                      "patients")]
    n = len(cohort)
    title = f"Cohort report: {cohort['participant_id'].nunique()} subjects, {n} sessions"
    return h.page(title, "".join(body))


def write_cohort_report(inputs: CohortInputs) -> Path:
    """Write ``cohort_report.html`` (and its ``figures/``) into ``inputs.out``."""
    from gliopet.atomic import write_text

    inputs.out.mkdir(parents=True, exist_ok=True)
    return write_text(inputs.out / "cohort_report.html", render_cohort(inputs))


def session_ids(bids_dir: Path) -> list[tuple[str, str | None]]:
    """(subject, session) of every quantified session, from the quant session folders."""
    found = []
    for path in d.find_every_session(bids_dir, d.QUANT_ROW):
        folder = path.parent
        if folder.name.startswith("ses-"):
            found.append((folder.parent.name.removeprefix("sub-"),
                          folder.name.removeprefix("ses-")))
        else:
            found.append((folder.name.removeprefix("sub-"), None))
    return found

