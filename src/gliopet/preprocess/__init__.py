"""Preprocessing: PET motion correction, PET-MRI and MRI-template registration, brain mask,
reference regions on the PET grid, analysis grids and QC (issue 4).

Transforms follow docs/conventions.md, "Transforms and coordinates" (fMRIPrep/ITK):
``..._from-A_to-B_mode-image_xfm.txt`` maps points of B's space to A's space (LPS mm) and
resamples A onto B's grid.
"""
