"""Load test of the reader-study web application: concurrent readers submitting answers.

Creates a study of synthetic cases (the test fixture `tests/support/reader_study.py`), serves it
with `gliopet reader serve` in a separate process (uvicorn), and lets N simulated readers
(one process each, with its own httpx client and login, so that the clients do not queue
behind one interpreter lock) read every case of both arms at the same time:
open the case page, submit the answer. Reports per database: answers expected / stored / lost
(must be 0), refused submits, and the latency of the submits and case pages (median, p95, max,
ms). PostgreSQL runs in a throw-away cluster (initdb in a temporary folder, a free port) when
initdb and pg_ctl are on PATH (as root they run as the user ``nobody``).

Usage::

    .venv/bin/python benchmarks/reader_load.py --readers 20 --cases 10
    .venv/bin/python benchmarks/reader_load.py --readers 20 --cases 10 --backends sqlite

Prints a Markdown table for docs/benchmarks.md and exits 1 when an answer is lost.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
CODE = re.compile(r'href="/case/([0-9A-F]{10})"')


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_load_study(folder: Path, url: str, n_readers: int, n_cases: int) -> dict[str, str]:
    """A crossed two-arm study without wash-out; returns username -> password."""
    from gliopet.reader.setup import StudyOptions, create_study
    from support.reader_study import make_reader_dataset

    data = make_reader_dataset(folder / "bids", n_cases=n_cases)
    summary = create_study(StudyOptions(data.root, data.predictions, "load", url,
                                        images=folder / "images", n_readers=n_readers,
                                        washout_days=0.0, seed=1))
    return {a.username: a.password for a in summary.accounts if not a.is_admin}


@contextmanager
def served(url: str, port: int) -> Any:
    """`gliopet reader serve` in a subprocess until the block ends."""
    command = [sys.executable, "-c", "import sys; from gliopet.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "reader", "serve", "--database", url,
               "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        import httpx
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/login", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None:
                    raise RuntimeError(process.stderr.read().decode()) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=20)


def one_reader(base: str, username: str, password: str, barrier: Any,
               out: dict[str, Any], think_s: float = 0.0) -> None:
    """Log in, wait for every reader, then read every case of both arms (pausing `think_s`
    on each case page: the reading time); record latencies."""
    import httpx

    submits, pages, refused = [], [], 0
    rng = np.random.default_rng(abs(hash(username)) % 2**32)
    with httpx.Client(base_url=base, timeout=60) as client:
        token = CSRF.search(client.get("/login").text).group(1)
        client.post("/login", data={"username": username, "password": password,
                                    "csrf": token})
        barrier.wait()
        for _ in range(2):  # the two arms
            home = client.get("/").text
            csrf = CSRF.search(home).group(1)
            for code in CODE.findall(home):
                start = time.perf_counter()
                client.get(f"/case/{code}")
                pages.append(time.perf_counter() - start)
                time.sleep(think_s * rng.uniform(0.5, 1.5))
                start = time.perf_counter()
                response = client.post(f"/case/{code}", data={
                    "diagnosis": "progression", "confidence": 60, "comments": "load",
                    "csrf": csrf})
                submits.append(time.perf_counter() - start)
                refused += response.status_code not in (200, 303)
    out[username] = {"submits": submits, "pages": pages, "refused": refused}


def run_load(url: str, passwords: dict[str, str], n_cases: int,
             think_s: float = 0.0) -> dict[str, Any]:
    """Run every reader concurrently against a served database; the figures."""
    from sqlalchemy import func, select

    from gliopet.reader.models import Reading
    from gliopet.reader.store import session_factory

    port = free_port()
    context = multiprocessing.get_context("fork")
    with served(url, port) as base, context.Manager() as manager:
        results = manager.dict()
        barrier = context.Barrier(len(passwords))
        readers = [context.Process(target=one_reader, args=(base, user, pw, barrier, results,
                                                            think_s))
                   for user, pw in passwords.items()]
        start = time.perf_counter()
        for reader in readers:
            reader.start()
        for reader in readers:
            reader.join()
        wall = time.perf_counter() - start
        results = dict(results)
    with session_factory(url)() as session:
        stored = session.scalar(select(func.count()).select_from(Reading))
    submits = np.array([t for r in results.values() for t in r["submits"]]) * 1000
    pages = np.array([t for r in results.values() for t in r["pages"]]) * 1000
    expected = len(passwords) * n_cases * 2
    return {"readers": len(passwords), "expected": expected, "stored": int(stored),
            "lost": expected - int(stored), "refused": sum(r["refused"] for r in results.values()),
            "submit_median_ms": float(np.median(submits)),
            "submit_p95_ms": float(np.percentile(submits, 95)),
            "submit_max_ms": float(submits.max()),
            "page_p95_ms": float(np.percentile(pages, 95)), "wall_s": wall}


def _as_postgres_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "nobody", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_cluster() -> Any:
    """A throw-away PostgreSQL cluster in a new temporary folder (removed afterwards); yields
    its URL (database ``reader``)."""
    folder = Path(tempfile.mkdtemp(prefix="gliopet-pg-"))
    data, sockets = folder / "pgdata", folder / "pgsock"
    sockets.mkdir()
    if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to nobody
        shutil.chown(folder, "nobody")
        shutil.chown(sockets, "nobody")
    port = free_port()
    try:
        _pg(["initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        _pg(["pg_ctl", "-D", str(data), "-w", "-l", str(folder / "pg.log"), "-o",
             f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c max_connections=200",
             "start"])
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={port} user=postgres dbname=postgres",
                             autocommit=True) as con:
            con.execute("CREATE DATABASE reader")
        yield f"postgresql://postgres@127.0.0.1:{port}/reader"
    finally:
        subprocess.run(_as_postgres_user(["pg_ctl", "-D", str(data), "-m", "fast", "stop"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _pg(command: list[str]) -> None:
    done = subprocess.run(_as_postgres_user(command), capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed: {done.stderr.strip() or done.stdout.strip()}")


def bench(backend: str, n_readers: int, n_cases: int, think_s: float) -> dict[str, Any]:
    """Set up a study on `backend` (sqlite or postgresql) and run the load on it."""
    folder = Path(tempfile.mkdtemp(prefix=f"reader-load-{backend}-"))
    os.chmod(folder, 0o755)
    try:
        if backend == "sqlite":
            url = f"sqlite:///{folder / 'study.db'}"
            return run_load(url, make_load_study(folder, url, n_readers, n_cases), n_cases,
                            think_s)
        with postgres_cluster() as url:
            return run_load(url, make_load_study(folder, url, n_readers, n_cases), n_cases,
                            think_s)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    """Run the benchmark; print the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--cases", type=int, default=10)
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--think-s", type=float, nargs="+", default=[0.0, 1.0],
                        help="mean pause on each case page (s); one run per value")
    args = parser.parse_args()
    rows = []
    for backend in args.backends.split(","):
        if backend == "postgresql" and not (shutil.which("initdb") and shutil.which("pg_ctl")):
            print("postgresql: skipped (initdb/pg_ctl not on PATH)")
            continue
        for think in args.think_s:
            rows.append((backend, think, bench(backend, args.readers, args.cases, think),
                         os.getloadavg()[0]))
    print(f"{os.cpu_count()} CPUs")
    print("| database | think (s) | load avg | readers | answers expected | stored | lost | "
          "refused | submit median (ms) | submit p95 (ms) | submit max (ms) | case page p95 "
          "(ms) | wall (s) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for backend, think, r, load in rows:
        print(f"| {backend} | {think:g} | {load:.1f} | {r['readers']} | {r['expected']} | "
              f"{r['stored']} | {r['lost']} | "
              f"{r['refused']} | {r['submit_median_ms']:.0f} | {r['submit_p95_ms']:.0f} | "
              f"{r['submit_max_ms']:.0f} | {r['page_p95_ms']:.0f} | {r['wall_s']:.1f} |")
    return 1 if any(r["lost"] for _, _, r, _ in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
