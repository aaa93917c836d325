"""Reports: cohort and phantom reports (Markdown + TSV), figures later.

`gliopet.report.phantom_realism`: the simulated cohort against the published ranges of
LITERATURE.md (``gliopet phantom-report``).
"""
