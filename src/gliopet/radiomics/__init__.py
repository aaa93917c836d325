"""Radiomics (`gliopet radiomics`): IBSI-compliant features computed with MIRP inside the tumour
VOI and user masks, and ComBat harmonisation across sites for use inside cross-validation folds.

Modules: `features` (one MIRP call per image and mask; settings and feature families),
`ibsi` (the IBSI-1 digital-phantom comparison), `pipeline` (`RadiomicsStage`, the per-session
stage and the cohort table), `harmonize` (`ComBat`, a scikit-learn transformer).
"""
