"""DICOM import (PACS export -> de-identified BIDS) and DICOM series writers.

- `import_dicom` (`importer`): the ``gliopet import-dicom`` verb's engine.
- `write_pet_series`, `write_mr_series` (`write`): classic PET and MR series from arrays, used
  by the tests and by the digital phantom's DICOM output.
"""

from gliopet.io.dicom.importer import ImportReport, Skipped, Written, import_dicom, load_id_map
from gliopet.io.dicom.mr import SeriesMap, classify_mr, load_series_map
from gliopet.io.dicom.pet import PETSeries, SkipSeries, pet_series
from gliopet.io.dicom.scan import ScanResult, Series, scan_folder
from gliopet.io.dicom.write import write_mr_series, write_pet_series
from gliopet.radionuclides import decay_weighted_offset_s

__all__ = [
    "ImportReport",
    "PETSeries",
    "ScanResult",
    "Series",
    "SeriesMap",
    "SkipSeries",
    "Skipped",
    "Written",
    "classify_mr",
    "decay_weighted_offset_s",
    "import_dicom",
    "load_id_map",
    "load_series_map",
    "pet_series",
    "scan_folder",
    "write_mr_series",
    "write_pet_series",
]
