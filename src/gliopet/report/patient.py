"""The patient report: one session, self-contained HTML (images inline) and a PDF of 4 pages.

Sections: de-identified header (subject and session labels only), the tumour in words, image
panels (`gliopet.report.figures`), TACs, the guideline numbers with units and reference ranges
(`gliopet.report.numbers`), the model output with its uncertainty and what it rests on
(`gliopet predict`), the aggressive subregion and biopsy target (`gliopet signature`,
`gliopet biopsy`), QC flags (`qc.tsv`), provenance (versions, time of each step) and the
research-use disclaimer. A stage that did not run is one sentence naming its command.

The PDF is built with matplotlib's PdfPages from the same figures and tables (no system
library): page 1 summary, 2 images, 3 TACs and numbers, 4 provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from gliopet import __version__
from gliopet.io import derivatives as d
from gliopet.provenance import dependency_versions
from gliopet.report import figures, sources
from gliopet.report import html as h
from gliopet.report.images import biopsy_target, load_session_images
from gliopet.report.numbers import fmt, guideline_rows

#: Pages of the PDF, in order.
PDF_PAGES = ("summary", "images", "TACs and numbers", "provenance")


@dataclass
class PatientReport:
    """Everything one patient report shows (collected once, rendered as HTML and PDF)."""

    subject: str
    session: str
    quant: dict[str, Any]
    qc_flags: list[str]
    qc: dict[str, Any] | None
    model: sources.ModelOutput | None
    target: dict[str, Any] | None
    provenance: list[dict[str, str]]
    step_seconds: dict[str, float]
    figures: dict[str, Figure | None] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        """``Patient report: sub-<s> ses-<t>``."""
        return f"Patient report: {self.subject} {self.session}"


def tumour_sentence(quant: dict[str, Any]) -> str:
    """The tumour in words (no PET-avid tumour said so, with the quantification's reason)."""
    if str(quant.get("voi_source", "")) == "none" or fmt(quant.get("TBRmax")) == "n/a":
        note = str(quant.get("note") or "").split(";")[0]
        return "No PET-avid tumour was found" + (f": {note}." if note else ".")
    side = fmt(quant.get("lesion_side"))
    return (f"PET-avid tumour: biological tumour volume {fmt(quant.get('BTV_mL'))} mL, "
            f"{side} side, TBRmax {fmt(quant.get('TBRmax'))}, TSRmax "
            f"{fmt(quant.get('TSRmax'))} (tumour VOI: {fmt(quant.get('voi_source'))}).")


def collect(bids_root: str | Path, ids: d.IdsLike, *, predictions: Path | None = None,
            step_seconds: dict[str, float] | None = None) -> PatientReport:
    """Read every input of the report for one session and draw its figures."""
    root = Path(bids_root)
    subject, session = sources.labels(ids)
    qc = sources.qc_row(root, ids)
    model = sources.model_output(root, ids, predictions)
    report = PatientReport(
        subject, session, sources.quant_row(root, ids), sources.qc_flags(qc), qc, model,
        biopsy_target(root, ids), sources.stage_provenance(root, ids),
        {**sources.stage_seconds(root, ids), **(step_seconds or {})},
        versions=dependency_versions())
    images = load_session_images(root, ids, model.saliency() if model is not None else None)
    label = f"{subject} {session}"
    report.figures = {
        "pet": figures.pet_figure(images, label),
        "aggressiveness": figures.map_figure(images, "aggressiveness",
                                             f"{label}: aggressiveness map"),
        "saliency": figures.map_figure(images, "saliency", f"{label}: model saliency"),
    }
    tacs = pd.read_csv(d.find(root, ids, d.VOI_TACS, what="TACs"), sep="\t")
    report.figures["tacs"] = figures.tac_figure(tacs, f"{label}: time-activity curves")
    return report


# ---------------------------------------------------------------------------- HTML sections
def _header(r: PatientReport) -> str:
    q = r.quant
    rows = [("subject", r.subject), ("session", r.session), ("site", fmt(q.get("site"))),
            ("tracer", fmt(q.get("tracer"))), ("frames", fmt(q.get("n_frames"))),
            ("static window (min)", fmt(q.get("static_window_min")))]
    return h.table(("field", "value"), rows) + h.paragraph(tumour_sentence(q))


def _images(r: PatientReport) -> str:
    parts = [h.image(figures.png_bytes(r.figures["pet"]), "static PET over MRI")]
    for name, what, command in (
            ("aggressiveness", "The aggressiveness map and biopsy target (WP2 signature)",
             "gliopet signature BIDS_DIR && gliopet biopsy BIDS_DIR"),
            ("saliency", "A saliency map (image model of `gliopet predict`)",
             "gliopet predict BIDS_DIR --model CNN_MODEL_DIR")):
        figure = r.figures.get(name)
        parts.append(h.image(figures.png_bytes(figure), f"{name} map") if figure is not None
                     else h.not_run(what, command))
    return "".join(parts)


def _numbers(r: PatientReport) -> str:
    rows = guideline_rows(r.quant)
    tacs = r.figures.get("tacs")
    body = (h.image(figures.png_bytes(tacs), "time-activity curves") if tacs is not None else
            h.paragraph("Static acquisition (one frame): no time-activity curve.", "notrun"))
    header = ("quantity", "value", "units", "reading", "reference range", "source")
    return body + h.table(header, [tuple(row.values()) for row in rows]) + h.paragraph(
        "Reference ranges are quoted from docs/literature.md (study sizes and verification "
        "status there); a FET figure is given for orientation only.")


def model_rows(model: sources.ModelOutput) -> list[tuple[str, ...]]:
    """One row per model: name, family, probability, threshold, class, explanation."""
    rows = []
    for r in model.rows.to_dict("records"):
        ci = ""
        if fmt(r.get("probability_ci_low")) != "n/a":
            ci = f" [{fmt(r['probability_ci_low'], 2)}, {fmt(r['probability_ci_high'], 2)}]"
        rows.append((str(r["model"]), str(r["family"]), fmt(r["probability"], 2) + ci,
                     fmt(r["threshold"], 2), fmt(r["predicted_class"]),
                     fmt(r.get("explanation"))[:300]))
    return rows


def performance_rows(model: sources.ModelOutput) -> list[tuple[str, ...]]:
    """The models' out-of-sample AUC with its 95 % bootstrap CI, per evaluation."""
    return [(str(r["model"]), str(r.get("evaluation", "")),
             f"{fmt(r['auc'], 2)} [{fmt(r['auc_ci_low'], 2)}, {fmt(r['auc_ci_high'], 2)}]")
            for r in model.performance.to_dict("records")]


def _model(r: PatientReport) -> str:
    if r.model is None:
        return h.not_run("A model prediction (progression probability)",
                         "gliopet predict BIDS_DIR --model MODEL_DIR")
    body = h.table(("model", "family", "probability", "threshold", "class", "explanation"),
                   model_rows(r.model))
    rests = (f"The models were trained by `gliopet classify cohort` (target "
             f"{r.model.target or 'n/a'}; folder {r.model.model_folder or 'n/a'}). The "
             "explanation is the rule's value against its cut-off or the features that moved "
             "this patient's probability (SHAP).")
    body += h.paragraph(rests)
    if not r.model.performance.empty:
        body += h.paragraph("Uncertainty: out-of-sample AUC of each model with its 95 % "
                            "bootstrap interval (cross-validation by subject; external site).")
        body += h.table(("model", "evaluation", "AUC [95 % CI]"), performance_rows(r.model))
    return body


#: Fields of the biopsy record shown elsewhere: in the report header and provenance section,
#: or in the table of targeting points.
TARGET_ELSEWHERE = ("participant_id", "session_id", "provenance", "alternatives",
                    "target_ras_mm", "target_lps_mm", "target_voxel_mri", "inside_mri")
#: Names of the alternative targeting points of `gliopet biopsy` in the report.
ALTERNATIVE_NAMES = {"suvmax": "SUVmax voxel", "ttp_hotspot": "earliest-peaking hot spot"}
#: Columns of the table of targeting points.
TARGET_POINT_HEADER = ("point", "RAS (mm)", "LPS (mm)", "MRI voxel (i, j, k)", "inside MRI",
                       "value")
#: Values of a targeting point, with their units.
POINT_VALUES = {"aggressiveness_sphere_mean": ("aggressiveness", ""), "SUV": ("SUV", " g/mL"),
                "TTP_min": ("TTP", " min"), "volume_mL": ("hot spot", " mL")}


def _label(key: str) -> str:
    """A record key in words, its unit suffix in brackets ("edge_distance_mm" -> "edge distance
    (mm)")."""
    for suffix, unit in (("_mm", "mm"), ("_mL", "mL"), ("_min", "min")):
        if key.endswith(suffix):
            return f"{key.removesuffix(suffix).replace('_', ' ')} ({unit})"
    return key.replace("_", " ")


def _text(value: Any) -> str:
    """A record value in words: coordinates and lists joined (4 significant digits), a mapping
    as "key value" pairs, anything else through `fmt`."""
    if isinstance(value, list | tuple):
        return ", ".join(fmt(v, 4) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    return fmt(value)


def _point(name: str, record: dict[str, Any]) -> tuple[str, ...]:
    values = "; ".join(f"{label} {fmt(record[key])}{unit}"
                       for key, (label, unit) in POINT_VALUES.items() if key in record)
    inside = record.get("inside_mri")
    return (name, _text(record.get("target_ras_mm")),
            _text(record.get("target_lps_mm")),
            _text(record.get("target_voxel_mri")),
            "n/a" if inside is None else fmt(bool(inside)), values or "n/a")


def target_points(target: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per targeting point: the biopsy target, then the alternatives of `gliopet
    biopsy` (name, RAS and LPS in mm, MRI voxel, inside the MRI, values with units); empty
    when there is no target."""
    if target.get("target_ras_mm") is None:
        return []
    rows = [_point("biopsy target (aggressive subregion)", target)]
    for key, record in (target.get("alternatives") or {}).items():
        name = ALTERNATIVE_NAMES.get(key, key)
        rows.append(_point(f"{name}: {record['rule']}" if record.get("rule") else name, record))
    return rows


def target_rows(target: dict[str, Any]) -> list[tuple[str, str]]:
    """The rest of the biopsy target record as (field, value) rows: status, rule, sizes in
    mm, and the DICOM export one item per row."""
    rows = []
    for key, value in target.items():
        if key == "dicom" and isinstance(value, dict):
            rows += [(f"DICOM {_label(k)}", _text(v)) for k, v in value.items()]
        elif key not in TARGET_ELSEWHERE:
            rows.append((_label(key), _text(value)))
    return rows


def _target(r: PatientReport) -> str:
    if r.target is None:
        return h.not_run("The biopsy target", "gliopet biopsy BIDS_DIR")
    points = target_points(r.target)
    body = h.table(TARGET_POINT_HEADER, points) if points else ""
    return body + h.table(("field", "value"), target_rows(r.target))


def _qc(r: PatientReport) -> str:
    if r.qc is None:
        return h.not_run("Preprocessing QC", "gliopet preprocess BIDS_DIR")
    if r.qc_flags:
        flags = "".join(f'<li class="flag">{h.esc(f)}</li>' for f in r.qc_flags)
        body = f"<p>QC flags (see docs/architecture.md, preprocess QC):</p><ul>{flags}</ul>"
    else:
        body = h.paragraph("No QC flag: registration, motion, brain volume and reference "
                           "regions within their limits.")
    keys = ("pet_mri_nmi", "template_nmi", "max_motion_mm", "brain_ml", "striatum_ml")
    return body + h.table(("metric", "value"), [(k, fmt(r.qc.get(k))) for k in keys])


def provenance_rows(r: PatientReport) -> list[tuple[str, ...]]:
    """Stage, command, gliopet version, time finished, seconds (where recorded)."""
    rows = [(p["stage"], p["command"], p["gliopet"], p["finished"],
             fmt(r.step_seconds.get(p["stage"]), 3)) for p in r.provenance]
    listed = {p["stage"] for p in r.provenance}
    rows += [(step, "", __version__, "", fmt(sec, 3)) for step, sec in r.step_seconds.items()
             if step not in listed]
    return rows


def _provenance(r: PatientReport) -> str:
    steps = h.table(("step", "command", "gliopet", "finished (UTC)", "seconds"),
                    provenance_rows(r))
    versions = h.table(("package", "version"), sorted(r.versions.items()))
    return steps + versions


def render_html(report: PatientReport) -> str:
    """The report as one self-contained HTML document."""
    body = "".join([
        h.section("Patient and study", _header(report)),
        h.section("Images", _images(report)),
        h.section("Time-activity curves and guideline numbers", _numbers(report)),
        h.section("Model output", _model(report)),
        h.section("Aggressive subregion and biopsy target", _target(report)),
        h.section("Quality control", _qc(report)),
        h.section("Provenance", _provenance(report)),
    ])
    return h.page(report.title, body)


def write_patient_report(bids_root: str | Path, ids: d.IdsLike, out_dir: str | Path, *,
                         predictions: Path | None = None,
                         step_seconds: dict[str, float] | None = None,
                         pdf: bool = True) -> tuple[Path, Path | None]:
    """Write ``<sub>_<ses>_report.html`` (and ``.pdf``) into `out_dir`; returns both paths."""
    from gliopet.atomic import write_text
    from gliopet.report.pdf import write_pdf

    report = collect(bids_root, ids, predictions=predictions, step_seconds=step_seconds)
    stem = Path(out_dir) / f"{report.subject}_{report.session}_report"
    html_path = write_text(stem.with_suffix(".html"), render_html(report))
    pdf_path = write_pdf(report, stem.with_suffix(".pdf")) if pdf else None
    return html_path, pdf_path

