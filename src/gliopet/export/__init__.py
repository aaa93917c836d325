"""Export for the operating room: DICOM SEG (highdicom), RTSTRUCT (rt-utils) and the DICOM copy
of the reference MRI they refer to when the session did not come from DICOM."""
