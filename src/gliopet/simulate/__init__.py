"""The digital phantom: simulated multi-site FDOPA PET + MRI glioma cohorts with ground truth."""
