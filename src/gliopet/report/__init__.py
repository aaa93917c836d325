"""Reports people read: the patient report (HTML and PDF) and the cohort report (HTML)."""
