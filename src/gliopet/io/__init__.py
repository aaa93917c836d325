"""Input and output: the data model, BIDS-PET reading and writing, DICOM import, NIfTI helpers."""
