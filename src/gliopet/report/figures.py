"""Figures a physician reads at a glance (matplotlib, Agg; PNG bytes or PDF pages).

Image panels show three orthogonal planes through one voxel (the tumour's maximum SUV) of a
session on the PET grid (`gliopet.report.images.SessionImages`, RAS+ arrays). Display follows
the **radiological convention**: the patient's right is on the viewer's left in the axial and
coronal planes (labels R/L, A/P, S/I at the edges; sagittal planes are seen from the patient's
left, anterior on the viewer's left). Axes are in mm, so voxels keep their true aspect. The PET
uses the 'hot' colour map with a colour bar in SUV (g/mL) over the MRI in grey; the tumour VOI
(BTV) is outlined in cyan, the background (reference) region in green and the striatum in
blue; the biopsy target is a white cross.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from gliopet.report.images import SessionImages

#: Outline colour of each mask (legend label, colour).
OUTLINES = {"tumour": ("tumour VOI (BTV)", "cyan"),
            "background": ("background (reference)", "lime"),
            "striatum": ("striatum", "dodgerblue"),
            "aggressive": ("aggressive subregion", "magenta")}
#: Plane name: (axis cut, labels left/right/top/bottom of the displayed plane).
PLANES = {"axial": (2, ("R", "L", "A", "P")), "coronal": (1, ("R", "L", "S", "I")),
          "sagittal": (0, ("A", "P", "S", "I"))}
CONVENTION = ("radiological convention: the patient's right on the viewer's left (axial, "
              "coronal); sagittal seen from the left, anterior on the viewer's left")


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def _plane(volume: np.ndarray, axis: int, index: int) -> np.ndarray:
    """The 2-D plane of `volume` at `index` along `axis`, rows = the display's vertical axis."""
    return np.take(volume, index, axis=axis).T


def _extent(images: SessionImages, axis: int) -> tuple[float, float, float, float]:
    keep = [a for a in range(3) if a != axis]
    width, height = (images.suv.shape[a] * images.zooms[a] for a in keep)
    return (0.0, width, 0.0, height)


def _grid(images: SessionImages, axis: int) -> tuple[np.ndarray, np.ndarray]:
    keep = [a for a in range(3) if a != axis]
    return tuple((np.arange(images.suv.shape[a]) + 0.5) * images.zooms[a] for a in keep)


def _orient(ax: Axes, labels: tuple[str, str, str, str]) -> None:
    """Radiological display (first axis reversed) and the four orientation labels."""
    ax.invert_xaxis()
    style = {"color": "white", "fontsize": 9, "fontweight": "bold", "transform": ax.transAxes}
    ax.text(0.02, 0.5, labels[0], ha="left", va="center", **style)
    ax.text(0.98, 0.5, labels[1], ha="right", va="center", **style)
    ax.text(0.5, 0.98, labels[2], ha="center", va="top", **style)
    ax.text(0.5, 0.02, labels[3], ha="center", va="bottom", **style)
    ax.set_xticks([])
    ax.set_yticks([])


def _outline(ax: Axes, images: SessionImages, axis: int, index: int,
             names: tuple[str, ...]) -> None:
    x, y = _grid(images, axis)
    for name in names:
        mask = images.masks.get(name)
        if mask is None:
            continue
        plane = _plane(mask, axis, index).astype(float)
        if plane.any():
            ax.contour(x, y, plane, levels=[0.5], colors=OUTLINES[name][1], linewidths=1.0)


def _target(ax: Axes, images: SessionImages, axis: int, index: int) -> None:
    if images.target_voxel is None or abs(images.target_voxel[axis] - index) > 1.5:
        return
    keep = [a for a in range(3) if a != axis]
    point = [(images.target_voxel[a] + 0.5) * images.zooms[a] for a in keep]
    ax.plot(*point, marker="+", color="white", markersize=14, markeredgewidth=2)


def _background(ax: Axes, images: SessionImages, axis: int, index: int) -> None:
    extent = _extent(images, axis)
    if images.mri is not None:
        plane = _plane(images.mri, axis, index)
        low, high = np.nanpercentile(images.mri, [1, 99.5])
        ax.imshow(plane, cmap="gray", origin="lower", extent=extent, vmin=low, vmax=high)
    else:
        ax.imshow(np.zeros_like(_plane(images.suv, axis, index)), cmap="gray", origin="lower",
                  extent=extent)


def _overlay(ax: Axes, images: SessionImages, volume: np.ndarray, axis: int, index: int,
             cmap: str, limits: tuple[float, float]):  # noqa: ANN202  (matplotlib image)
    plane = _plane(volume, axis, index)
    shown = np.ma.masked_where(~np.isfinite(plane) | (plane < limits[0] + 0.25 *
                                                      (limits[1] - limits[0])), plane)
    return ax.imshow(shown, cmap=cmap, origin="lower", extent=_extent(images, axis),
                     vmin=limits[0], vmax=limits[1], alpha=0.75, interpolation="nearest")


def _legend(fig: Figure, names: list[str], target: bool) -> None:
    handles = [Line2D([], [], color=OUTLINES[n][1], label=OUTLINES[n][0]) for n in names]
    if target:
        handles.append(Line2D([], [], color="black", marker="+", linestyle="",
                              label="biopsy target"))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8,
                   frameon=False)


def _suv_limits(images: SessionImages) -> tuple[float, float]:
    positive = images.suv[np.isfinite(images.suv) & (images.suv > 0)]
    top = float(np.percentile(positive, 99.9)) if positive.size else 1.0
    if images.has_tumour:
        top = max(top, float(np.nanmax(images.suv[images.masks["tumour"]])))
    return 0.0, max(top, 1e-6)


def ortho_figure(images: SessionImages, volume: np.ndarray, title: str, *, cmap: str,
                 units: str, limits: tuple[float, float], outlines: tuple[str, ...],
                 focus: tuple[int, int, int]) -> Figure:
    """Three planes through `focus` of `volume` over the MRI, with outlines and a colour bar."""
    fig = Figure(figsize=(10.5, 4.0))
    axes = fig.subplots(1, 3)
    shown = None
    for ax, (plane, (axis, labels)) in zip(axes, PLANES.items(), strict=True):
        _background(ax, images, axis, focus[axis])
        shown = _overlay(ax, images, volume, axis, focus[axis], cmap, limits)
        _outline(ax, images, axis, focus[axis], outlines)
        _target(ax, images, axis, focus[axis])
        _orient(ax, labels)
        ax.set_title(f"{plane} (slice {focus[axis] + 1})", fontsize=9)
    bar = fig.colorbar(shown, ax=list(axes), fraction=0.025, pad=0.02)
    bar.set_label(units)
    present = [n for n in outlines if n in images.masks and images.masks[n].any()]
    _legend(fig, present, images.target_voxel is not None)
    fig.suptitle(title, fontsize=11, y=0.995)
    fig.text(0.5, 0.925, CONVENTION, fontsize=7, color="dimgray", ha="center", va="top")
    return fig


def pet_figure(images: SessionImages, title: str) -> Figure:
    """Static SUV over the MRI at the tumour's maximum-uptake voxel (3 planes)."""
    mri = f" over {images.mri_name}" if images.mri_name else ""
    return ortho_figure(images, images.suv, f"{title}: static PET (SUV){mri}", cmap="hot",
                        units="SUV (g/mL)", limits=_suv_limits(images),
                        outlines=("tumour", "background", "striatum"), focus=images.focus())


def map_figure(images: SessionImages, name: str, title: str) -> Figure | None:
    """The aggressiveness or saliency map (unitless) through its maximum inside the tumour,
    with the aggressive subregion and the biopsy target; None when the map is absent."""
    volume = images.maps.get(name)
    if volume is None or not np.isfinite(volume).any():
        return None
    inside = images.masks.get("tumour") if images.has_tumour else np.isfinite(volume)
    if images.target_voxel is not None:
        focus = tuple(int(round(v)) for v in images.target_voxel)
    else:
        values = np.where(inside & np.isfinite(volume), volume, -np.inf)
        focus = tuple(int(i) for i in np.unravel_index(np.argmax(values), values.shape))
    finite = volume[np.isfinite(volume)]
    limits = (float(min(finite.min(), 0.0)), float(max(finite.max(), 1e-6)))
    return ortho_figure(images, volume, title, cmap="viridis", units=f"{name} (unitless)",
                        limits=limits, outlines=("tumour", "aggressive"), focus=focus)


#: TAC curves: column of the VOI TAC table, legend label, colour.
TAC_CURVES = (("tumour", "tumour VOI", "tab:red"), ("background", "background (reference)",
                                                    "tab:green"),
              ("striatum", "striatum", "tab:orange"))


def tac_figure(tacs: pd.DataFrame, title: str) -> Figure | None:
    """TACs of the tumour, background and striatum (SUV against frame mid-time, min); None
    for a static acquisition (one frame)."""
    if len(tacs) < 2:
        return None
    fig = Figure(figsize=(6.5, 4.0))
    ax = fig.subplots()
    for column, label, colour in TAC_CURVES:
        if column in tacs.columns:
            ax.plot(tacs["mid_time_min"], tacs[column], marker="o", markersize=3, label=label,
                    color=colour)
    ax.set(xlabel="time from injection, frame mid-time (min)", ylabel="SUV (g/mL)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def boxplot_figure(groups: dict[str, np.ndarray], title: str, ylabel: str) -> Figure:
    """Box plot (with every value as a dot) of one quantity by group."""
    fig = Figure(figsize=(4.2, 3.6))
    ax = fig.subplots()
    names = list(groups)
    ax.boxplot([groups[n] for n in names], showfliers=False)
    ax.set_xticks(range(1, len(names) + 1), names)
    for position, name in enumerate(names, start=1):
        values = groups[name]
        if len(values) == 0:
            continue
        jitter = np.linspace(-0.08, 0.08, len(values)) if len(values) > 1 else 0.0
        ax.plot(position + jitter, values, "o", color="black", alpha=0.6, markersize=3)
    ax.set(title=title, ylabel=ylabel)
    ax.tick_params(axis="x", labelsize=8)
    fig.tight_layout()
    return fig
