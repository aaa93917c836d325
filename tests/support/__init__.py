"""Test-only helpers: synthetic datasets and images with known truth, and the in-process CLI.

Nothing in ``src/gliopet`` imports from here; the package ships no test-data generator.
"""
