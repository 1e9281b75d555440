"""One local[2] SparkSession for every Spark test, and the trainer switched to it."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from recommender.training.spark.session import missing_spark, spark_session


@pytest.fixture(scope="session")
def spark_cluster() -> Iterator[object]:
    """The session (the JVM starts once: seconds), skipped only where Spark cannot run."""
    reason = missing_spark()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f".ci/run installs the spark extra and Java, yet {reason}")
        pytest.skip(f"the Spark trainer needs pyspark, pyarrow and Java 17: {reason}")
    session = spark_session()
    yield session
    session.stop()
    # py4j logs closing connections from __del__ at exit, after pytest closed its streams.
    logging.getLogger("py4j").propagate = False


@pytest.fixture
def spark_trainer(spark_cluster, settings, tmp_path) -> object:
    """SHELFWISE_TRAINER=spark on local[2], snapshots under this test's folder."""
    settings.SHELFWISE_TRAINER = "spark"
    settings.SHELFWISE_SPARK_SNAPSHOT_DIR = str(tmp_path / "snapshots")
    return spark_cluster
