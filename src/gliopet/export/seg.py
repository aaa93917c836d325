"""DICOM SEG of the biopsy export (highdicom): binary segments on the frames of an MR series.

Segments are numbered 1, 2, ... in the order given (small integer labels, as neuronavigation
systems expect), BINARY, on the source series' own frames, so they share its Frame of Reference
UID; empty frames are left out. Written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from gliopet import __version__
from gliopet.atomic import atomic_path
from gliopet.export.series import Series, frames, session_uid

#: (label, RGB colour) of each segment, by segment number - 1.
SEGMENTS = (("aggressive subregion", (230, 120, 20)), ("biopsy target", (220, 20, 60)))


def _description(number: int, label: str, colour: tuple[int, int, int]) -> object:
    import highdicom as hd
    from pydicom.sr.codedict import codes

    algorithm = hd.AlgorithmIdentificationSequence(
        name="gliopet biopsy", version=__version__, family=codes.DCM.ArtificialIntelligence)
    lab = hd.color.CIELabColor(*_rgb_to_lab(colour))
    return hd.seg.SegmentDescription(
        segment_number=number, segment_label=label,
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=codes.SCT.Neoplasm,
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=algorithm, display_color=lab)


def _rgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """sRGB (0-255) to CIE L*a*b* (D65), for the recommended display colour."""
    c = np.asarray(rgb, float) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722],
                    [0.0193, 0.1192, 0.9505]]) @ c / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return float(116 * f[1] - 16), float(500 * (f[0] - f[1])), float(200 * (f[1] - f[2]))


def write_seg(path: Path, series: Series, masks: Sequence[np.ndarray], key: str) -> Path:
    """Write the masks (each on the series' (c, r, k) grid) as one SEG; return its path.

    `key` (the session) seeds the SEG's UIDs so that a rerun writes the same object.
    """
    import highdicom as hd

    pixels = np.stack([frames(m.astype(bool)) for m in masks], axis=-1)
    seg = hd.seg.Segmentation(
        source_images=series.slices, pixel_array=pixels.astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[_description(i + 1, *SEGMENTS[i]) for i in range(len(masks))],
        series_instance_uid=session_uid(key, series.origin, "seg series"), series_number=902,
        sop_instance_uid=session_uid(key, series.origin, "seg instance"), instance_number=1,
        manufacturer="gliopet", manufacturer_model_name="gliopet biopsy export",
        software_versions=__version__, device_serial_number="none",
        series_description="gliopet biopsy target (research use)",
        content_label="BIOPSY", content_description="aggressive subregion and biopsy target")
    with atomic_path(path) as tmp:
        seg.save_as(tmp)
    return path


def read_seg(path: Path, series: Series) -> list[np.ndarray]:
    """The segments of a SEG on the series' (c, r, k) grid (for round-trip checks)."""
    import highdicom as hd

    seg = hd.seg.segread(path)
    uids = [s.SOPInstanceUID for s in series.slices]
    numbers = list(seg.get_segment_numbers())
    pixels = seg.get_pixels_by_source_instance(source_sop_instance_uids=uids,
                                               segment_numbers=numbers,
                                               ignore_spatial_locations=True)
    return [np.transpose(pixels[..., i], (2, 1, 0)) > 0 for i in range(len(numbers))]
