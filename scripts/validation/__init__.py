"""Sections of docs/validation.md, one module each (see scripts/validate.py)."""
