"""Evaluation metrics shared by every model family (WP2 signatures, WP3 classifiers).

A top-level module (rank 0 of the import rule), so that any package may use it:

- `classification`: AUC and the thresholded metrics (sensitivity, specificity, PPV, NPV,
  accuracy, balanced accuracy, F1) from one confusion count, and the Youden cut-off;
- `bootstrap`: stratified bootstrap 95 % confidence intervals over subjects, reproducible
  with a seed, for one prediction or the average of repeated cross-validation;
- `delong`: DeLong's variance of an AUC and the test of two correlated AUCs (the fast
  algorithm of Sun & Xu 2014);
- `calibration`: Brier score, reliability-curve bins, calibration intercept and slope;
- `decision`: decision-curve analysis (net benefit).
"""

from gliopet.metrics.bootstrap import bootstrap_metrics
from gliopet.metrics.calibration import brier_score, calibration_line, reliability_curve
from gliopet.metrics.classification import (
    METRICS,
    THRESHOLD_METRICS,
    auc_score,
    binary_metrics,
    threshold_metrics,
    youden_threshold,
)
from gliopet.metrics.decision import net_benefit
from gliopet.metrics.delong import DeLongResult, delong_test, delong_variance

__all__ = [
    "METRICS", "THRESHOLD_METRICS", "DeLongResult", "auc_score", "binary_metrics",
    "bootstrap_metrics", "brier_score", "calibration_line", "delong_test", "delong_variance",
    "net_benefit", "reliability_curve", "threshold_metrics", "youden_threshold",
]
