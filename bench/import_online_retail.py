"""Benchmark: import the full Online Retail file into a fresh PostgreSQL database.

    .venv/bin/python bench/import_online_retail.py [--database shelfwise_bench] [--runs 3]
        [--reimport] [--batch-size 20000] [--writers 2]

Each run drops and creates the database (default ``shelfwise_bench`` on the server of
DATABASE_URL, or 127.0.0.1:5432 as user postgres), migrates, imports, and prints lines/s, wall
time per step, CPU seconds, peak RSS and the counts; several runs end with min and median.

Wall time on a shared machine also measures the neighbours, so CPU seconds are printed beside
it: the client's (getrusage: every thread of this process) and the PostgreSQL backends' (read
from /proc, so only when the server is local). Writer threads use their own connections, so a
sampler polls pg_stat_activity every 50 ms for every backend on the bench database and reads
its CPU from /proc/<pid>/stat; a backend that exits between two polls loses at most 50 ms.
Autovacuum workers on the database are counted apart (they run after the import, for it).
Set REDIS_URL to include the real-time cache updates as in production.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"
TICK = os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shelfwise_bench")
    parser.add_argument("--path", default=str(DATA))
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--writers", type=int, default=None)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--reimport", action="store_true", help="Also time a second import.")
    args = parser.parse_args()

    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    bench_url = urlunsplit(server._replace(path=f"/{args.database}"))
    os.environ["DATABASE_URL"] = bench_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from behavior.online_retail import import_online_retail

    options = {
        name: value
        for name, value in (("batch_size", args.batch_size), ("writers", args.writers))
        if value is not None
    }
    results: dict[str, list[tuple[float, float, float, float]]] = {}
    for run in range(1, args.runs + 1):
        connections.close_all()
        _recreate(server, args.database)
        call_command("migrate", verbosity=0)
        runs = [("import", args.path)] + ([("re-import", args.path)] if args.reimport else [])
        for label, path in runs:
            load = os.getloadavg()[0]
            with _BackendCpu(bench_url, args.database) as backends:
                cpu, wall = _cpu(), time.perf_counter()
                report = import_online_retail(path=path, progress=True, **options)
                wall, cpu = time.perf_counter() - wall, _cpu() - cpu
            steps = ", ".join(f"{name} {sec:.1f}" for name, sec in report.phases.items())
            print(
                f"run {run} {label}: {report.lines:,} lines in {wall:.1f} s wall "
                f"({steps}) = {report.lines / wall:,.0f} lines/s; CPU s: client {cpu:.1f}, "
                f"PostgreSQL backends {backends.seconds:.1f} "
                f"(+ autovacuum {backends.autovacuum:.1f}); load average "
                f"{load:.1f} → {os.getloadavg()[0]:.1f}; "
                f"{report.products_created:,} products created, "
                f"{report.shoppers_created:,} shoppers created, {report.events_stored:,} events "
                f"stored, {report.duplicates:,} duplicates, {report.bad.count} bad lines",
                flush=True,
            )
            results.setdefault(label, []).append((wall, report.lines / wall, cpu, backends.seconds))
    if args.runs > 1:
        for label, rows in results.items():
            columns = zip(*rows, strict=True)
            names = ("wall s", "lines/s", "client CPU s", "server CPU s")
            print(
                f"{label} over {len(rows)} runs, min / median: "
                + "; ".join(
                    f"{name} {min(values):,.1f} / {statistics.median(values):,.1f}"
                    for name, values in zip(names, columns, strict=True)
                )
            )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MB")
    return 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _proc_cpu(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / TICK


class _BackendCpu:
    """CPU seconds of the database's backends while the block runs (see the module docstring)."""

    def __init__(self, url: str, database: str) -> None:
        import psycopg

        self._conn = psycopg.connect(url, autocommit=True)
        self._database = database
        self._first: dict[int, float] = {}
        self._last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self.seconds = self.autovacuum = 0.0

    def __enter__(self) -> _BackendCpu:
        for pid, kind in self._backends():
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self._first[pid] = cpu  # already running: count from now
                self._last[pid] = (kind, cpu)
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self._conn.close()
        for pid, (kind, cpu) in self._last.items():
            used = cpu - self._first.get(pid, 0.0)
            if kind == "autovacuum worker":
                self.autovacuum += used
            else:
                self.seconds += used

    def _backends(self) -> list[tuple[int, str]]:
        return self._conn.execute(
            "SELECT pid, backend_type FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()",
            [self._database],
        ).fetchall()

    def _sample(self) -> None:
        for pid, kind in self._backends():
            cpu = _proc_cpu(pid)
            if cpu is not None:
                self._last[pid] = (kind, cpu)

    def _poll(self) -> None:
        while not self._stop.wait(0.05):
            self._sample()


def _recreate(server, name: str) -> None:
    import psycopg

    admin = urlunsplit(server._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
