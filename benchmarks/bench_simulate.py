"""Benchmark of the phantom (`gliopet simulate`): issue 3 targets on 2 cores.

Targets: one standard session (MRI 1 mm, PET 2 mm, >= 26 frames) <= 20 s and <= 4 GB peak memory;
a tiny session <= 1 s; a 40-session tiny cohort <= 1 min.

Each case runs in a fresh child process (so peak RSS, from ``resource.getrusage``, is that case's
own), pinned to `--cpus` when given (``os.sched_setaffinity``) with 2 BLAS/OpenMP threads:

- ``cli-*``: the whole ``gliopet simulate`` command, cold (imports, template build, simulation,
  writing): what a user waits for.
- ``session-*``: one session simulated and written in-process after the template is built
  (``simulate_session`` + ``write_session``), the per-session cost inside a cohort.

Usage::

    .venv/bin/python benchmarks/bench_simulate.py [--cpus 0,1] [--repeat 1] [--cases ...]

Prints a Markdown table with the exact commands.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "cli-standard-session": [
        "--subjects",
        "1",
        "--profile",
        "standard",
        "--sites",
        "siteA",
        "--scenario",
        "diagnosis",
        "--seed",
        "1",
        "--jobs",
        "2",
    ],
    "cli-tiny-session": [
        "--subjects",
        "1",
        "--profile",
        "tiny",
        "--sites",
        "siteA",
        "--scenario",
        "diagnosis",
        "--seed",
        "1",
    ],
    "cli-tiny-cohort-40-sessions": [
        "--subjects",
        "20",
        "--profile",
        "tiny",
        "--sites",
        "siteA,siteB,siteC",
        "--scenario",
        "both",
        "--seed",
        "11",
        "--jobs",
        "2",
    ],
    "session-standard": ["standard"],
    "session-tiny": ["tiny"],
}
TARGETS = {"cli-standard-session": "<= 20 s, <= 4 GB", "session-standard": "<= 20 s, <= 4 GB",
           "cli-tiny-session": "<= 1 s (session)", "session-tiny": "<= 1 s",
           "cli-tiny-cohort-40-sessions": "<= 60 s"}


def _child(case: str, out: str) -> dict[str, float]:
    """Run one case in this process; return wall time (s) and peak RSS (GB)."""
    args = CASES[case]
    if case.startswith("cli-"):
        from gliopet.cli import main

        start = time.perf_counter()
        code = main(["simulate", out, *args, "--overwrite"])
        wall = time.perf_counter() - start
        if code != 0:
            raise SystemExit(f"gliopet simulate failed with status {code}")
    else:
        from gliopet.simulate import anatomy, cohort
        from gliopet.simulate.sites import get_site

        profile = cohort.PROFILES[args[0]]
        subjects, plans = cohort.plan_cohort(1, 1, [get_site("siteA")], "diagnosis")
        anatomy.template_labels(profile.template_mm)  # built once per process, not per session
        start = time.perf_counter()
        sim = cohort.simulate_session(plans[0], subjects[0], profile, 1)
        cohort.write_session(Path(out), sim)
        wall = time.perf_counter() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {"wall_s": wall, "peak_rss_gb": usage.ru_maxrss * 1024 / 1e9,
            "cpu_s_process": usage.ru_utime + usage.ru_stime}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--cases", default=",".join(CASES), help="comma-separated subset of the cases"
    )
    parser.add_argument("--cpus", default=None, help="CPU list to pin the children to, e.g. 0,1")
    parser.add_argument(
        "--repeat", type=int, default=1, help="runs per case (the best is reported)"
    )
    parser.add_argument(
        "--cold-cache",
        action="store_true",
        help="give every child an empty template cache (GLIOPET_CACHE_DIR), as on a first run",
    )
    parser.add_argument("--child", nargs=2, metavar=("CASE", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        if os.environ.get("BENCH_CPUS"):
            os.sched_setaffinity(0, {int(c) for c in os.environ["BENCH_CPUS"].split(",")})
        print(json.dumps(_child(*args.child)))
        return 0
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2",
        "MKL_NUM_THREADS": "2",
        "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS": "2",
    }
    if args.cpus:
        env["BENCH_CPUS"] = args.cpus
    rows = []
    for case in [c for c in args.cases.split(",") if c]:
        best = None
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                out = str(Path(tmp) / "out")
                child_env = (
                    {**env, "GLIOPET_CACHE_DIR": str(Path(tmp) / "cache")}
                    if args.cold_cache
                    else env
                )
                result = subprocess.run(
                    [sys.executable, __file__, "--child", case, out],
                    env=child_env,
                    capture_output=True,
                    text=True,
                )
                if result.returncode != 0:
                    print(result.stdout[-2000:], result.stderr[-4000:], file=sys.stderr)
                    return 1
                numbers = json.loads(result.stdout.strip().splitlines()[-1])
            if best is None or numbers["wall_s"] < best["wall_s"]:
                best = numbers
        command = (
            ("gliopet simulate OUT " + " ".join(CASES[case]))
            if case.startswith("cli-")
            else f"simulate_session + write_session, profile {CASES[case][0]}, siteA "
            "(template prebuilt)"
        )
        rows.append(
            (
                case,
                command,
                best["wall_s"],
                best["cpu_s_process"],
                best["peak_rss_gb"],
                TARGETS[case],
            )
        )
        print(
            f"[bench_simulate] {case}: {best['wall_s']:.2f} s, {best['peak_rss_gb']:.2f} GB",
            file=sys.stderr,
            flush=True,
        )
    cpus = args.cpus or f"all ({os.cpu_count()})"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    flags = " --cpus " + args.cpus if args.cpus else ""
    flags += " --cold-cache" if args.cold_cache else ""
    cache = "cold" if args.cold_cache else "as found (warm after a first run)"
    print(
        f"Machine: {os.cpu_count()} CPUs (load average at the end {load}), children pinned to "
        f"{cpus}; 2 BLAS/OpenMP/ITK threads. "
        f"Command: `{Path(sys.executable).name} benchmarks/bench_simulate.py{flags}`; "
        f"best of {args.repeat}; template disk cache {cache}.\n"
    )
    print("| case | what | wall (s) | CPU of the whole process (s) | peak RSS (GB) | target |")
    print("|---|---|---|---|---|---|")
    for case, command, wall, cpu, peak, target in rows:
        print(f"| {case} | `{command}` | {wall:.2f} | {cpu:.1f} | {peak:.2f} | {target} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
