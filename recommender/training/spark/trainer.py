"""Which fits go to Spark, and the round trip that makes Spark's result a normal core model."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import scipy.sparse as sp
from django.conf import settings

from recommender.core import ALGORITHMS, Recommender
from recommender.training.spark.session import cancelled_on_failure, spark_session
from recommender.training.spark.snapshot import parquet_snapshot

# The algorithms that are fitted on Spark under SHELFWISE_TRAINER=spark; the others (popularity,
# trending, EASE, the content index) keep fitting in the training process.
SPARK_ALGORITHMS = ("als", "item_knn")


def fits_on_spark(algorithm: str) -> bool:
    """True when the configured trainer sends ``algorithm``'s fits to Spark."""
    return settings.SHELFWISE_TRAINER == "spark" and algorithm in SPARK_ALGORITHMS


def fit_on_spark(
    algorithm: str, params: dict[str, Any], train: sp.csr_matrix
) -> tuple[Recommender, dict]:
    """``algorithm`` with ``params`` fitted on Spark from ``train`` (n_users, n_items): the
    core model the numpy trainer would return, and notes for the version's metrics."""
    from recommender.training.spark.als import fit_spark_als
    from recommender.training.spark.cooccurrence import fit_spark_item_knn

    spark = spark_session()
    started = time.perf_counter()
    snapshot_root = Path(settings.SHELFWISE_SPARK_SNAPSHOT_DIR)
    with parquet_snapshot(train, root=snapshot_root) as snapshot, cancelled_on_failure(spark):
        if algorithm == "als":
            model = fit_spark_als(spark, snapshot, params=params, matrix=train)
        elif algorithm == "item_knn":
            model = fit_spark_item_knn(spark, snapshot, params=params, shape=train.shape)
        else:
            raise ValueError(f"{algorithm!r} is not fitted on Spark; one of {SPARK_ALGORITHMS}")
    return _as_loaded(model), {"spark_fit_seconds": round(time.perf_counter() - started, 3)}


def _as_loaded(model: Recommender) -> Recommender:
    """The model written in the artifact format and read back as serving reads it: shapes
    checked, derived state (Gram matrices) rebuilt, exactly a numpy fit's model."""
    with tempfile.TemporaryDirectory(prefix="shelfwise-spark-") as folder:
        model.save_dir(folder)
        return ALGORITHMS[model.name].load_dir(folder, mmap_mode=None)
