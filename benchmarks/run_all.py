"""Run every benchmark script in this folder (``make bench``); each prints a Markdown table.

The tables and the exact commands are copied into docs/benchmarks.md by hand, with the machine
they ran on. Benchmarks pin themselves to 2 threads (the reference machine has 2 cores).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
    }
    status = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n## {script.name}\n", flush=True)
        status |= subprocess.call([sys.executable, str(script)], env=env)
    return status


if __name__ == "__main__":
    sys.exit(main())
