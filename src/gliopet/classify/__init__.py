"""WP3 classifiers and their honest evaluation (docs/conventions.md, "Validation and leakage").

- `tables`: reading and checking a feature table and a label table (one row per patient);
- `selection`: feature processing fitted inside the training folds;
- `models`: radiomics + classical ML (`TabularModel`: L2 logistic regression, SVM, random
  forest, gradient boosting) with fit / predict_proba / explain (SHAP);
- `rules`: clinical threshold rules on TBRmax, TBRmean, T/S and TTP (published and learned
  cut-offs) behind the same interface;
- `harmonize`: the ComBat transformer of `gliopet.radiomics.harmonize`, fitted per fold;
- `evaluate`: repeated nested cross-validation by subject, external validation on an unseen site;
- `results`, `plots`, `report`: metrics with bootstrap CIs, DeLong tests, selection stability,
  curves and the output folder; `tabular`: `gliopet classify tabular` end to end.
"""
