"""Where the optional real data lies (``../shared/data/real`` beside the repository).

Imported as ``support.real_data`` rather than from ``conftest``: test folders with their own
``conftest.py`` (unit/reader, unit/report) make ``import conftest`` ambiguous.
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REAL_DATA = REPO.parent / "shared" / "data" / "real"
