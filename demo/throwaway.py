"""Run a management command against a throwaway SQLite database in a child process.

The child gets its database from the environment before Django starts, so it can never touch
the configured (maybe production, maybe test) database: more robust than swapping
``settings.DATABASES`` after the parent process may already have connected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from django.conf import settings
from django.db import connection

THROWAWAY_ENV = "SHELFWISE_THROWAWAY_DB"


def run_in_throwaway_database(*, args: list[str]) -> int:
    """Run ``manage.py <args>`` on a fresh SQLite file that is deleted afterwards; its exit code."""
    with tempfile.TemporaryDirectory(prefix="shelfwise-demo-check-") as tmp:
        database = Path(tmp) / "demo.sqlite3"
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATABASE_URL": f"sqlite:///{database}",
            # Embedded mode: local-memory cache and in-process tasks, nothing shared touched.
            "REDIS_URL": "",
            "CELERY_BROKER_URL": "memory://",
            "CELERY_TASK_ALWAYS_EAGER": "true",
            "DJANGO_DEBUG": "true",
            "SHELFWISE_VAR_DIR": tmp,
            "SHELFWISE_MEDIA_ROOT": str(Path(tmp) / "media"),
            THROWAWAY_ENV: str(database),
        }
        manage = Path(settings.BASE_DIR) / "manage.py"
        return subprocess.run([sys.executable, str(manage), *args], env=env, check=False).returncode


def in_throwaway_database() -> bool:
    return bool(os.environ.get(THROWAWAY_ENV))


def assert_throwaway_database() -> None:
    """Refuse to go on unless this process really is on the throwaway SQLite file."""
    expected = os.environ[THROWAWAY_ENV]
    if connection.vendor != "sqlite" or str(connection.settings_dict["NAME"]) != expected:
        raise RuntimeError(
            f"Expected the throwaway SQLite database {expected}, "
            f"got {connection.vendor} {connection.settings_dict['NAME']}."
        )
