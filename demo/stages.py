"""Wall and CPU seconds per stage of a demo build, so anyone can see where a build's time goes.

CPU is this process's (``time.process_time``) and, on PostgreSQL when the server runs on this
machine and its process is readable, the database backend's (from ``/proc/<pid>/stat``): a
COPY's or an ANALYZE's work happens there, not here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from django.db import connection


@dataclass(frozen=True)
class Stage:
    name: str
    wall: float
    cpu: float
    db_cpu: float | None  # None when the backend's CPU cannot be read


@dataclass
class Stages:
    """The stages timed so far, in the order they ran."""

    done: list[Stage] = field(default_factory=list)
    _last_end: tuple[float, float, float | None] | None = None

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name``."""
        began = _clocks()
        yield
        self._record(name, began)

    def since_last(self, name: str) -> None:
        """Record the time since the last stage ended as stage ``name`` (a transaction's commit,
        which no ``with`` block inside it can time)."""
        if self._last_end is not None:
            self._record(name, self._last_end)

    def _record(self, name: str, began: tuple[float, float, float | None]) -> None:
        ended = _clocks()
        db_cpu = None if began[2] is None or ended[2] is None else ended[2] - began[2]
        self.done.append(
            Stage(name=name, wall=ended[0] - began[0], cpu=ended[1] - began[1], db_cpu=db_cpu)
        )
        self._last_end = ended

    def table(self) -> list[str]:
        """One line per stage and a total: wall s, this process's CPU s, the database's CPU s."""
        lines = [f"  {'stage':<22} {'wall s':>8} {'cpu s':>8} {'db cpu s':>9}"]
        for s in (*self.done, self.total()):
            db = "-" if s.db_cpu is None else f"{s.db_cpu:.1f}"
            lines.append(f"  {s.name:<22} {s.wall:>8.1f} {s.cpu:>8.1f} {db:>9}")
        return lines

    def total(self) -> Stage:
        db = [s.db_cpu for s in self.done]
        return Stage(
            name="total",
            wall=sum(s.wall for s in self.done),
            cpu=sum(s.cpu for s in self.done),
            db_cpu=None if not db or None in db else sum(db),  # type: ignore[arg-type]
        )


def _clocks() -> tuple[float, float, float | None]:
    return time.perf_counter(), time.process_time(), _backend_cpu()


def _backend_cpu() -> float | None:
    """CPU seconds (user + system) the PostgreSQL backend of this connection has used, or None."""
    if connection.vendor != "postgresql" or connection.settings_dict.get("HOST") not in (
        "127.0.0.1",
        "localhost",
        "",
        None,
    ):
        return None
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command name: field 14 (utime) and 15 (stime) of stat(5), 1-based.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
