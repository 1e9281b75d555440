"""Training on Spark, part of config.settings (recommender/training/spark; README "Training on
Spark")."""

from django.core.exceptions import ImproperlyConfigured

from config.env import VAR_DIR, env

# --- Training on Spark (recommender/training/spark; pip install ".[spark]", Java 17) -------------
# "spark" fits ALS (MLlib) and item_knn's co-occurrence neighbours on a Spark cluster; the other
# algorithms, evaluation and serving stay where they are. README: "Training on Spark".
SHELFWISE_TRAINER = env.str("SHELFWISE_TRAINER", default="numpy")
if SHELFWISE_TRAINER not in ("numpy", "spark"):
    raise ImproperlyConfigured(
        f"SHELFWISE_TRAINER must be numpy or spark, not {SHELFWISE_TRAINER!r}"
    )
# The cluster: spark://host:7077, yarn, k8s://..., or local[N] (in the training process).
SHELFWISE_SPARK_MASTER = env.str("SHELFWISE_SPARK_MASTER", default="local[2]")
SHELFWISE_SPARK_DRIVER_MEMORY = env.str("SHELFWISE_SPARK_DRIVER_MEMORY", default="2g")
SHELFWISE_SPARK_EXECUTOR_MEMORY = env.str("SHELFWISE_SPARK_EXECUTOR_MEMORY", default="2g")
# The name executors reach the training process by (its container name); empty: Spark's guess.
SHELFWISE_SPARK_DRIVER_HOST = env.str("SHELFWISE_SPARK_DRIVER_HOST", default="")
# Where each fit's Parquet snapshot of the matrix goes: a folder every executor sees at the same
# path (a shared mount); deleted after the fit.
SHELFWISE_SPARK_SNAPSHOT_DIR = env.str(
    "SHELFWISE_SPARK_SNAPSHOT_DIR", default=str(VAR_DIR / "spark-snapshots")
)
