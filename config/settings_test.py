"""Test settings: the real services, never the embedded defaults.

Tests assert behaviour against real PostgreSQL and Redis, so point at the local ones unless the
environment names others (CI or scripts/test may set DATABASE_URL / REDIS_URL explicitly).
"""

import os
from pathlib import Path

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shelfwise")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
# The broker gets its own Redis database: clearing the cache between tests flushes DB 15.
os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/14")
os.environ.setdefault("CELERY_TASK_ALWAYS_EAGER", "true")
os.environ.setdefault("SHELFWISE_VAR_DIR", "/tmp/shelfwise-test-var")
# Training runs in tests use the configured defaults; tuning has tests of its own that set it.
os.environ.setdefault("SHELFWISE_TUNING_BUDGET_SECONDS", "0")

from config.settings import *  # noqa: F403
from config.settings import REST_FRAMEWORK

# Fast hashing: the suite creates many users; password strength is not under test here.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CACHES["default"]["KEY_PREFIX"] = "shelfwise-test"  # noqa: F405
REST_FRAMEWORK = {**REST_FRAMEWORK}

# WhiteNoise warns on every request when STATIC_ROOT is missing; tests never collectstatic.
STATIC_ROOT = Path(os.environ["SHELFWISE_VAR_DIR"]) / "staticfiles"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
