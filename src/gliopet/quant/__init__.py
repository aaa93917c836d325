"""Quantification: static SUV/TBR/TSR/BTV, VOIs, TACs, voxel maps, kinetic models, habitats,
dynamic hot spots. Functions work on numpy arrays, `FrameTiming` and boolean masks on the PET
grid; voxel sizes are in mm, times in s (timing) and min (TTP, rate constants per min)."""

from gliopet.quant.static import static_metrics, suv_peak
from gliopet.quant.tac import late_slope, tac_table, ttp_min, voi_dynamics, voi_tac
from gliopet.quant.voi import VOIResult, tumour_voi, user_voi
from gliopet.quant.voxelmaps import VoxelMaps, voxel_maps

__all__ = [
    "VOIResult", "VoxelMaps", "late_slope", "static_metrics", "suv_peak", "tac_table", "ttp_min",
    "tumour_voi", "user_voi", "voi_dynamics", "voi_tac", "voxel_maps",
]
