"""The environment the settings modules read: ``.env`` is loaded once, before any value is."""

from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
# Uploads, artifacts and scratch space (a volume in Docker); several settings modules derive paths.
VAR_DIR = Path(env.str("SHELFWISE_VAR_DIR", default=str(BASE_DIR / "var")))
