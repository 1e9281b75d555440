"""Benchmark: import the full Online Retail file into a fresh PostgreSQL database.

    .venv/bin/python bench/import_online_retail.py [--database shelfwise_bench] [--reimport]

Drops and creates the database (default ``shelfwise_bench`` on the server of DATABASE_URL,
or 127.0.0.1:5432 as user postgres), migrates, imports, and prints lines/s, wall and CPU time,
peak RSS and the counts. CPU seconds of the client and of its PostgreSQL backend (read from
/proc when the server is local) are printed too, because wall time on a shared machine also
measures the neighbours. Set REDIS_URL to include the real-time cache updates as in production.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "datasets" / "online_retail" / "online_retail.csv.gz"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="shelfwise_bench")
    parser.add_argument("--path", default=str(DATA))
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--reimport", action="store_true", help="Also time a second import.")
    args = parser.parse_args()

    server = urlsplit(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    os.environ["DATABASE_URL"] = urlunsplit(server._replace(path=f"/{args.database}"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    _recreate(server, args.database)

    import django

    django.setup()
    from django.core.management import call_command

    from behavior.online_retail import import_online_retail

    call_command("migrate", verbosity=0)
    runs = [("import", args.path)] + ([("re-import", args.path)] if args.reimport else [])
    for label, path in runs:
        cpu, server, wall = _cpu(), _server_cpu(), time.perf_counter()
        report = import_online_retail(path=path, batch_size=args.batch_size, progress=True)
        wall, cpu, server = time.perf_counter() - wall, _cpu() - cpu, _server_cpu() - server
        print(
            f"{label}: {report.lines:,} lines in {wall:.1f} s wall = {report.lines / wall:,.0f} "
            f"lines/s (CPU: client {cpu:.1f} s, PostgreSQL backend {server:.1f} s); "
            f"{report.products_created:,} products created, "
            f"{report.shoppers_created:,} shoppers created, {report.events_stored:,} events "
            f"stored, {report.duplicates:,} duplicates, {report.bad.count} bad lines"
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:,.0f} MB; load average {os.getloadavg()[0]:.1f}")
    return 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _server_cpu() -> float:
    """CPU seconds of this connection's PostgreSQL backend (0 when the server is not local)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _recreate(server, name: str) -> None:
    import psycopg

    admin = urlunsplit(server._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


if __name__ == "__main__":
    sys.exit(main())
