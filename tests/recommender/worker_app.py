"""The Celery app the test worker subprocess runs: the project's app plus ``scripted``."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings_test")

from config.celery import app
from recommender.core import ALGORITHMS
from tests.recommender.scripted import Scripted

ALGORITHMS.setdefault("scripted", Scripted)

__all__ = ["app"]
