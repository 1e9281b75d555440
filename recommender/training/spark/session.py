"""The one SparkSession of a process, configured from settings."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    # py4j logs every closed connection at INFO, some from __del__ during interpreter exit.
    logging.getLogger("py4j").setLevel(logging.WARNING)


class SparkUnavailable(RuntimeError):
    """pyspark or Java is missing where the Spark trainer was asked for."""


def missing_spark() -> str | None:
    """Why Spark cannot start here (no pyspark, no java), or None when it can."""
    try:
        import pyarrow  # noqa: F401
        import pyspark  # noqa: F401
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install '.[spark]')"
    java_home = os.environ.get("JAVA_HOME", "")
    if shutil.which("java") is None and not os.path.exists(os.path.join(java_home, "bin", "java")):
        return "java is not on PATH (Spark needs Java 17: apt-get install openjdk-17-jre-headless)"
    return None


def spark_session() -> SparkSession:
    """The process's session, started on first use (the JVM costs seconds, so it is kept)."""
    reason = missing_spark()
    if reason:
        raise SparkUnavailable(f"SHELFWISE_TRAINER=spark, but {reason}.")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(settings.SHELFWISE_SPARK_MASTER)
        .appName("shelfwise-training")
        # Memory applies when this call starts the driver JVM; executors take theirs per app.
        .config("spark.driver.memory", settings.SHELFWISE_SPARK_DRIVER_MEMORY)
        .config("spark.executor.memory", settings.SHELFWISE_SPARK_EXECUTOR_MEMORY)
        .config("spark.ui.showConsoleProgress", "false")
    )
    if settings.SHELFWISE_SPARK_MASTER.startswith("local"):
        # 200 shuffle partitions (the default, sized for clusters) cost more than the work on
        # one machine: the co-occurrence of a 200×50 matrix took 50 s, not seconds.
        builder = builder.config("spark.sql.shuffle.partitions", "4").config(
            "spark.ui.enabled", "false"
        )
    if settings.SHELFWISE_SPARK_DRIVER_HOST:
        # Executors connect back to the driver: in a container its name, not its loopback.
        builder = builder.config("spark.driver.host", settings.SHELFWISE_SPARK_DRIVER_HOST)
        builder = builder.config("spark.driver.bindAddress", "0.0.0.0")
    return builder.getOrCreate()


@contextmanager
def cancelled_on_failure(spark: SparkSession) -> Iterator[None]:
    """Cancel the session's jobs when the caller gives up (an error, a soft time limit), so a
    run that moved on leaves no job holding the cluster."""
    try:
        yield
    except BaseException:
        spark.sparkContext.cancelAllJobs()
        raise
