"""A self-signed certificate for Dask TLS tests (made with the ``openssl`` command line)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """(certificate, key) of a self-signed CA certificate for localhost in `folder`, valid for 2
    days; None when ``openssl`` is not installed."""
    if shutil.which("openssl") is None:
        return None
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
                    str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost"],
                   check=True, capture_output=True)
    return cert, key
