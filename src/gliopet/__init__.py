"""gliopet: amino-acid PET and MRI of glioma, from DICOM to decisions.

Research software for clinical research. It is not a medical device and must not be used
for diagnosis or treatment decisions.
"""

__version__ = "0.1.0"

DISCLAIMER = (
    "gliopet is research software for clinical research, not a medical device: "
    "its outputs must not be used for diagnosis or treatment decisions."
)

__all__ = ["__version__", "DISCLAIMER"]
