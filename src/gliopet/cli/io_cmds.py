"""Verbs of the io stage: `validate`, `info`, `import-dicom`."""

from __future__ import annotations
