"""Dynamic features of one `gliopet quantify` session, each step returning a typed result.

`dynamic_features` runs, for a PET of at least 3 frames: voxel maps inside the brain (TTP,
slope, early/late, TBR per window; always), and, when a tumour VOI exists, the tumour TAC
dynamics, the reference-region models (Logan-ref, Patlak-ref, SRTM: `KineticsResult`), TAC
habitats (`HabitatsResult`), dynamic hot spots (`HotspotsResult`) and, with a user's
metabolite-corrected ``_blood.tsv``, the plasma-input models (`PlasmaResult`). Images and tables
are written through the session's `gliopet.stage.SessionWriter` under the names of the
derivatives contract (VOXEL_MAP, TBR_MAP, KINETIC_MAP, HABITATS, HABITAT_TACS, HOTSPOTS,
HOTSPOT_TABLE, PLASMA_KINETICS).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from gliopet.config import QuantConfig
from gliopet.errors import InputError
from gliopet.io import derivatives as d
from gliopet.io.session import PETImage
from gliopet.stage import SessionWriter

if TYPE_CHECKING:
    from gliopet.quant.pipeline import QuantInputs, VOIs

#: Margin (mm) around the tumour VOI inside which the voxelwise kinetic models are fitted.
KINETIC_MARGIN_MM = 10.0
#: Start of the linear part of the graphical reference models (min).
T_STAR_MIN = 10.0
#: Caveat in the sidecar of the Patlak-ref map.
PATLAK_CAVEAT = ("Patlak with a reference region assumes the reference is in equilibrium with "
                 "plasma after t*; a slowly equilibrating reference (FDOPA grey/white matter, k2' "
                 "about 0.06 /min) biases the slope strongly on 30-min scans (docs/validation.md, "
                 "curves section). Prefer SRTM or Logan-ref for FDOPA.")
#: Note of the kinetic maps and of quant.tsv (``margin``: KINETIC_MARGIN_MM).
REFERENCE_NOTE = ("kinetic models: reference region = the background region (healthy contralateral "
                  "brain), fitted voxelwise inside the tumour + {margin:g} mm margin")
#: Sidecar name of the reference region of the kinetic maps (the background mask's entities).
REFERENCE_REGION = f"{d.BACKGROUND_MASK.label(only=('desc',))} (healthy contralateral brain)"


@dataclass
class KineticsResult:
    """Reference-region models of the tumour TAC (NaN when not computed) and their notes."""

    srtm_BPnd: float
    srtm_R1: float
    srtm_at_bound: bool
    k2ref_per_min: float
    loganref_DVR: float = float("nan")
    patlakref_Ki_per_min: float = float("nan")
    notes: list[str] = field(default_factory=list)

    def columns(self) -> dict[str, Any]:
        """quant.tsv columns."""
        return {"srtm_BPnd": self.srtm_BPnd, "srtm_R1": self.srtm_R1,
                "srtm_at_bound": self.srtm_at_bound, "k2ref_per_min": self.k2ref_per_min,
                "loganref_DVR": self.loganref_DVR,
                "patlakref_Ki_per_min": self.patlakref_Ki_per_min}


@dataclass
class HabitatsResult:
    """TAC habitats: their number (None when clustering was refused, with a note)."""

    n_habitats: int | None
    note: str = ""


@dataclass
class HotspotsResult:
    """Dynamic hot spots: count and total volume (mL)."""

    n_hotspots: int
    hotspot_volume_mL: float


@dataclass
class PlasmaResult:
    """Plasma-input models of the tumour TAC (columns) and the note on the input."""

    columns: dict[str, float]
    note: str


@dataclass
class DynamicResult:
    """Step 4: dynamic features (tumour ones only when a tumour was found)."""

    fractions: dict[str, float]
    tumour: dict[str, float] = field(default_factory=dict)
    kinetics: KineticsResult | None = None
    habitats: HabitatsResult | None = None
    hotspots: HotspotsResult | None = None
    plasma: PlasmaResult | None = None
    plasma_note: str = ""

    def columns(self) -> dict[str, Any]:
        """quant.tsv columns (in the order they were computed)."""
        columns: dict[str, Any] = {**self.fractions, **self.tumour}
        if self.kinetics is not None:
            columns.update(self.kinetics.columns())
        if self.habitats is not None and self.habitats.n_habitats is not None:
            columns["n_habitats"] = self.habitats.n_habitats
        if self.hotspots is not None:
            columns.update(dataclasses.asdict(self.hotspots))
        if self.plasma is not None:
            columns.update(self.plasma.columns)
        return columns

    def notes(self) -> list[str]:
        """Notes of the kinetic models, habitats and plasma input, in that order."""
        notes = [] if self.kinetics is None else list(self.kinetics.notes)
        if self.habitats is not None:
            notes.append(self.habitats.note)
        return notes + [self.plasma.note if self.plasma is not None else self.plasma_note]


def dynamic_features(data: QuantInputs, vois: VOIs, out: SessionWriter, opts: QuantConfig,
                     seed: int, pet: PETImage, blood: Path | None) -> DynamicResult:
    """Voxel maps, then (with a tumour VOI) tumour dynamics, kinetic models, habitats, hot spots
    and plasma-input models; `seed` for the habitat clustering, `blood` the raw ``_blood.tsv``."""
    from gliopet.quant import tac

    result = DynamicResult(_voxel_maps(data, vois, out, opts))
    if not vois.tumour.any():
        return result
    slope_s = (opts.slope_window_min[0] * 60.0, opts.slope_window_min[1] * 60.0)
    result.tumour = {k: v for k, v in tac.voi_dynamics(data.suv, data.timing, vois.tumour,
                                                       data.masks["striatum"], slope_s).items()
                     if k != "dynamic_note"}
    result.kinetics = _kinetics(data, vois, out)
    result.habitats = _habitats(data, vois, out, seed)
    result.hotspots = _hotspots(data, vois, out, opts)
    if blood is not None:
        result.plasma = _plasma(data, vois, pet, blood, out)
    else:
        result.plasma_note = ("no _blood.tsv: plasma-input models not fitted (no image-derived "
                              "input for FDOPA)")
    return result


def _voxel_maps(data: QuantInputs, vois: VOIs, out: SessionWriter,
                opts: QuantConfig) -> dict[str, float]:
    """TTP, slope, early/late and TBR maps inside the brain; returns the tumour fractions."""
    from gliopet.quant import voxelmaps

    brain, tumour, background = data.masks["brain"], vois.tumour, vois.background
    slope_s = (opts.slope_window_min[0] * 60.0, opts.slope_window_min[1] * 60.0)
    early_s = (opts.early_window_min[0] * 60.0, opts.early_window_min[1] * 60.0)
    window_s = (opts.static_window_min[0] * 60.0, opts.static_window_min[1] * 60.0)
    vm = voxelmaps.voxel_maps(data.suv, data.timing, brain,
                              background & brain if (background & brain).any() else None,
                              tumour if tumour.any() else None, slope_window_s=slope_s,
                              early_window_s=early_s, late_window_s=window_s,
                              tbr_windows_s=[early_s, window_s], early_peak_min=opts.early_peak_min)
    slope, early = opts.slope_window_min, opts.early_window_min
    units = {"TTP": ("min", "time to peak: mid-time of each voxel's highest frame"),
             "slope": ("SUV/h", f"late slope over {slope[0]:g}-{slope[1]:g} min"),
             "earlylate": ("ratio", f"early ({early[0]:g}-{early[1]:g} min) / late (static window) "
                                    "mean SUV")}
    for key, image in vm.maps.items():
        if key.startswith("TBR_"):
            label = key[4:]
            out.image(d.TBR_MAP, image, data.affine, desc=label,
                      sidecar={"Units": "ratio", "Description": f"voxel SUV mean over {label} / "
                                                                "background mean over the same "
                                                                "window; NaN outside the brain"})
        else:
            out.image(d.VOXEL_MAP, image, data.affine, stat=key,
                      sidecar={"Units": units[key][0],
                               "Description": units[key][1] + "; NaN outside the brain"})
    return vm.fractions


def _kinetics(data: QuantInputs, vois: VOIs, out: SessionWriter) -> KineticsResult:
    """Reference-region Logan, Patlak and SRTM: voxelwise in tumour + margin, and on the tumour
    TAC (reference = the background region)."""
    from gliopet.quant import reference_models as rm
    from gliopet.quant.tac import voi_tac
    from gliopet.spatial import dilate_mm

    tumour, background, suv, timing = vois.tumour, vois.background, data.suv, data.timing
    region = (dilate_mm(tumour, KINETIC_MARGIN_MM, data.sizes) & (data.masks["brain"] | tumour)
              & ~background)
    ref = voi_tac(suv, background)
    tacs = suv[region].astype(float)
    tumour_tac = voi_tac(suv, tumour)
    basis = rm.srtm_basis(ref, timing)
    fit = rm.srtm_fit(tumour_tac, basis, timing)
    srtm = rm.srtm_fit(tacs, basis, timing)
    k2_ref, k2_source = _reference_efflux(fit, {k: v[tumour[region]] for k, v in srtm.items()})
    result = KineticsResult(float(fit["BPnd"]), float(fit["R1"]), bool(fit["at_bound"]),
                            float("nan") if k2_ref is None else k2_ref)
    sidecar = {"ReferenceRegion": REFERENCE_REGION,
               "Description": REFERENCE_NOTE.format(margin=KINETIC_MARGIN_MM) + "; NaN elsewhere"}
    try:
        logan = rm.logan_reference(tacs, ref, timing, T_STAR_MIN, k2_ref_per_min=k2_ref)
        patlak = rm.patlak_reference(tacs, ref, timing, T_STAR_MIN)
    except ValueError as exc:
        result.notes.append(f"graphical reference models not computed: {exc}")
    else:
        k2_text = "no k2'" if k2_ref is None else f"k2' = {k2_ref:.4g} /min ({k2_source})"
        logan_model = f"Logan reference (t* = {T_STAR_MIN:g} min, {k2_text})"
        out.image(d.KINETIC_MAP, rm.to_image(logan["DVR"], region), data.affine, desc="loganref",
                  stat="DVR", sidecar={**sidecar, "Units": "ratio", "Model": logan_model})
        out.image(d.KINETIC_MAP, rm.to_image(patlak["Ki"], region), data.affine, desc="patlakref",
                  stat="Ki", sidecar={**sidecar, "Units": "1/min",
                                      "Model": f"Patlak reference (t* = {T_STAR_MIN:g} min)",
                                      "Caveat": PATLAK_CAVEAT})
        result.loganref_DVR = float(rm.logan_reference(tumour_tac, ref, timing, T_STAR_MIN,
                                                       k2_ref_per_min=k2_ref)["DVR"])
        result.patlakref_Ki_per_min = float(rm.patlak_reference(tumour_tac, ref, timing,
                                                                T_STAR_MIN)["Ki"])
    for key in ("BPnd", "R1"):
        out.image(d.KINETIC_MAP, rm.to_image(srtm[key], region), data.affine, desc="srtm", stat=key,
                  sidecar={**sidecar, "Units": "ratio", "Model": f"SRTM, basis functions "
                                                                 f"({basis.describe()}), weights = "
                                                                 "frame duration"})
    result.notes.append(REFERENCE_NOTE.format(margin=KINETIC_MARGIN_MM))
    return result


def _reference_efflux(fit: dict[str, Any],
                      tumour_voxels: dict[str, np.ndarray]) -> tuple[float | None, str]:
    """Reference efflux k2' (/min) for Logan-ref and where it came from.

    Without the Cr/k2' term Logan-ref DVR is biased when the reference equilibrates slowly within
    the scan: k2' is the median of voxelwise SRTM k2/R1 over the informative tumour voxels, else
    k2/R1 of the SRTM fit of the tumour TAC; None when neither is positive and finite.
    """
    from gliopet.quant import reference_models as rm

    k2_ref = rm.reference_efflux(tumour_voxels)
    source = "median SRTM k2/R1 of the tumour voxels"
    if k2_ref is None:
        k2_ref = float(fit["k2"] / fit["R1"]) if fit["R1"] > 0 else float("nan")
        source = "SRTM k2/R1 of the tumour TAC"
    if not (np.isfinite(k2_ref) and k2_ref > 0):
        k2_ref = None
    return k2_ref, source


def _habitats(data: QuantInputs, vois: VOIs, out: SessionWriter, seed: int) -> HabitatsResult:
    """TAC habitats (k-means on normalised voxel TACs) with their mean TACs."""
    from gliopet.quant import clustering

    try:
        hab = clustering.tac_habitats(data.suv, data.timing, vois.tumour, seed=seed)
    except InputError as exc:
        return HabitatsResult(None, f"habitats not computed: {exc.problem}")
    out.image(d.HABITATS, hab.labels, data.affine, dtype=np.int16,
              sidecar={"Description": "TAC habitats: k-means on voxel TACs divided by their "
                                      "mean, k by the highest silhouette; labels ordered by "
                                      "increasing TTP of the mean TAC",
                       "Silhouette": {str(k): v for k, v in hab.silhouette.items()}})
    table = pd.DataFrame({"mid_time_min": data.timing.mid_min})
    for j in range(hab.k):
        table[f"habitat_{j + 1}"] = hab.mean_tacs[j]
    out.tsv(d.HABITAT_TACS, table)
    return HabitatsResult(hab.k)


def _hotspots(data: QuantInputs, vois: VOIs, out: SessionWriter,
              opts: QuantConfig) -> HotspotsResult:
    """Dynamic hot spots (early peak and negative late slope) with their table."""
    from gliopet.quant import hotspots

    slope_s = (opts.slope_window_min[0] * 60.0, opts.slope_window_min[1] * 60.0)
    spots = hotspots.dynamic_hotspots(data.suv, data.timing, vois.tumour, data.affine,
                                      early_peak_min=opts.early_peak_min,
                                      min_volume_ml=opts.hotspot_min_volume_ml,
                                      slope_window_s=slope_s)
    out.image(d.HOTSPOTS, spots.labels, data.affine, dtype=np.int16,
              sidecar={"Description": f"dynamic hot spots (Kunz 2011): TTP < "
                                      f"{opts.early_peak_min:g} min and negative late slope, >= "
                                      f"{opts.hotspot_min_volume_ml:g} mL; 1..n by decreasing "
                                      "volume"})
    rows = [{**{k: v for k, v in s.items() if k != "centroid_ras_mm"},
             "x_ras_mm": s["centroid_ras_mm"][0], "y_ras_mm": s["centroid_ras_mm"][1],
             "z_ras_mm": s["centroid_ras_mm"][2]} for s in spots.spots]
    columns = ["label", "volume_mL", "TTP_min", "slope_SUV_per_h", "peak_SUV", "x_ras_mm",
               "y_ras_mm", "z_ras_mm"]
    out.tsv(d.HOTSPOT_TABLE, pd.DataFrame(rows, columns=columns))
    return HotspotsResult(len(spots.spots), float(sum(s["volume_mL"] for s in spots.spots)))


def _plasma(data: QuantInputs, vois: VOIs, pet: PETImage, blood: Path,
            out: SessionWriter) -> PlasmaResult:
    """1TCM, 2TCM (WNLS) and plasma-input Logan on the tumour and background TACs (Bq/mL)."""
    from gliopet.quant.plasma_models import fit_compartment, logan_plasma, read_blood_tsv
    from gliopet.quant.tac import voi_tac

    injection = float(pet.sidecar.get("InjectionStart", 0.0) or 0.0)
    inp = read_blood_tsv(blood, injection_start_s=injection)
    to_bq = 1.0 / pet.suv_factor  # SUV -> Bq/mL (decay-corrected to injection)
    rows, columns = [], {}
    for region, mask in (("tumour", vois.tumour), ("background", vois.background)):
        curve = voi_tac(data.suv, mask) * to_bq
        one = fit_compartment(curve, data.timing, inp, "1TCM")
        two = fit_compartment(curve, data.timing, inp, "2TCM")
        try:
            logan = logan_plasma(curve, data.timing, inp, t_star_min=T_STAR_MIN)["VT"]
        except InputError:
            logan = float("nan")
        rows.append({"region": region, **{f"{k}_1TCM": v for k, v in one.items()},
                     **{f"{k}_2TCM": v for k, v in two.items()}, "VT_logan_plasma": logan})
        if region == "tumour":
            columns = {"K1_1TCM": one["K1"], "VT_1TCM": one["VT"], "K1_2TCM": two["K1"],
                       "VT_2TCM": two["VT"], "VT_logan_plasma": logan}
    out.tsv(d.PLASMA_KINETICS, pd.DataFrame(rows))
    return PlasmaResult(columns, f"plasma input from {blood.name} (metabolite-corrected; no "
                                 "image-derived input for FDOPA)")
