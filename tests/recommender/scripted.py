"""A test-only algorithm whose behaviour the test scripts through its parameters.

It ranks by item popularity (``reverse=True``: least popular first, a deliberately worse model),
can sleep in ``fit`` (to catch a run mid-fit) or while saving its artifact (to catch a run
mid-save), and can raise in ``fit`` (a failing fit). Registered as
``ALGORITHMS["scripted"]`` by the ``scripted_algorithm`` fixture and by the test worker app.
"""

from __future__ import annotations

import time
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from recommender.core.base import Recommender
from recommender.core.checks import FitError, check_user_items
from recommender.core.kernels import FLOAT


class Scripted(Recommender):
    name: ClassVar[str] = "scripted"
    artifact_arrays: ClassVar[tuple[str, ...]] = ("item_scores",)

    def __init__(
        self,
        sleep_seconds: float = 0.0,
        fail: bool = False,
        reverse: bool = False,
        save_sleep_seconds: float = 0.0,
    ) -> None:
        self.sleep_seconds = float(sleep_seconds)
        self.save_sleep_seconds = float(save_sleep_seconds)
        self.fail = bool(fail)
        self.reverse = bool(reverse)

    @property
    def params(self) -> dict[str, Any]:
        return {
            "sleep_seconds": self.sleep_seconds,
            "fail": self.fail,
            "reverse": self.reverse,
            "save_sleep_seconds": self.save_sleep_seconds,
        }

    def fit(self, user_items: sp.csr_matrix) -> Scripted:
        matrix = check_user_items(user_items)
        deadline = time.monotonic() + self.sleep_seconds
        while time.monotonic() < deadline:
            time.sleep(0.05)
        if self.fail:
            raise FitError("scripted failure: the factors turned NaN")
        self.n_users, self.n_items = matrix.shape
        counts = np.bincount(matrix.indices, minlength=self.n_items).astype(FLOAT)
        self.item_scores = -counts if self.reverse else counts
        return self

    def save_dir(self, path):
        time.sleep(self.save_sleep_seconds)
        return super().save_dir(path)

    def score_from_rows(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores, (rows.shape[0], self.n_items)).copy()
