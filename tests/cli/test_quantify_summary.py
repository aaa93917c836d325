"""The table `gliopet quantify` prints for people: no "nan", counts as whole numbers."""

from __future__ import annotations

import numpy as np
import pandas as pd

from gliopet.cli.quant_cmd import _print_summary


def test_summary_says_n_a_for_a_session_without_tumour_and_prints_counts_whole(capsys):
    table = pd.DataFrame({
        "participant_id": ["sub-001", "sub-002"], "session_id": ["ses-a", "ses-b"],
        "SUVmax": [5.964, np.nan], "BTV_mL": [45.88, 0.0], "n_hotspots": [1.0, np.nan],
    })
    _print_summary(table, (10.0, 30.0))
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "Static (10-30 min)" in out
    rows = [line for line in out.splitlines() if "sub-00" in line]
    assert [cell.strip() for cell in rows[0].strip("│ ").split("│")] == [
        "sub-001", "ses-a", "5.96", "45.88", "1"]
    assert [cell.strip() for cell in rows[1].strip("│ ").split("│")] == [
        "sub-002", "ses-b", "n/a", "0.00", "n/a"]
