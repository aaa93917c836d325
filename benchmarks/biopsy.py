"""Benchmark of `gliopet biopsy`: one standard-profile phantom session after quantification.

Setup (not timed): ``gliopet simulate --profile standard -n 1 --scenario diagnosis
--aggressive-fraction 1``, ``gliopet preprocess``, ``gliopet quantify`` and
``gliopet signature --session diagnosis`` on it. Timed: ``gliopet biopsy`` with the DICOM
export (target, NIfTI masks on the 1 mm reference MRI, the MRI's DICOM copy, SEG and RTSTRUCT
with their checks).

Usage::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 taskset -c 0,1 \\
        .venv/bin/python benchmarks/biopsy.py [--work DIR]

Prints a Markdown line for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path


def _run(*argv: str) -> float:
    """Run ``gliopet ARGV`` in-process; return its wall time (s); stop on failure."""
    from gliopet.cli import main

    start = time.perf_counter()
    code = main(list(argv))
    if code != 0:
        raise SystemExit(f"gliopet {' '.join(argv)} failed with status {code}")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-biopsy-"))
    bids = work / "bids"
    if not bids.exists():
        _run("simulate", str(bids), "--profile", "standard", "-n", "1", "--scenario",
             "diagnosis", "--aggressive-fraction", "1", "--seed", "7")
    setup = [_run("preprocess", str(bids)), _run("quantify", str(bids)),
             _run("signature", str(bids), "--session", "diagnosis")]
    cpu0 = time.process_time()
    wall = _run("biopsy", str(bids), "--force")
    cpu = time.process_time() - cpu0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"setup (preprocess, quantify, signature): {', '.join(f'{s:.0f} s' for s in setup)}")
    print(f"| one standard-profile session, with DICOM export (target < 60 s) | {wall:.1f} s | "
          f"{cpu:.1f} s | {peak_mb:.0f} MB (whole process) |")


if __name__ == "__main__":
    main()
