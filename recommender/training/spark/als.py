"""Implicit ALS fitted by Spark MLlib, returned as the core's ``ALS`` factors.

Both solve Hu, Koren & Volinsky's weighted problem with c_ui = 1 + alpha·r_ui and p_ui = 1[r_ui > 0]
(Spark's ``implicitPrefs``), so factors, rank, alpha and sweeps carry over one to one. The
regularisation does not: ours adds a constant λ to every row's system, Spark's adds
regParam·n_u, n_u being the row's interactions (ALS-WR, Zhou et al. 2008). ``reg_param``
chooses regParam so the mean row gets our λ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recommender.core.als import ALS

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def reg_param(regularization: float, matrix: sp.csr_matrix) -> float:
    """Spark's regParam giving a shopper with the mean number of interactions our λ."""
    active_rows = int(np.count_nonzero(np.diff(matrix.indptr)))
    return float(regularization) * active_rows / max(int(matrix.nnz), 1)


def spark_als_params(params: dict[str, Any], matrix: sp.csr_matrix) -> dict[str, Any]:
    """Our ALS hyper-parameters as ``pyspark.ml.recommendation.ALS`` arguments.

    ``cg_steps`` and ``num_threads`` have no counterpart: Spark solves each row exactly
    (Cholesky) and its parallelism is the cluster's.
    """
    model = ALS(**params)  # the core's defaults and checks
    spark = {
        "rank": model.factors,
        "maxIter": model.iterations,
        "regParam": reg_param(model.regularization, matrix),
        "alpha": model.alpha,
        "implicitPrefs": True,
        "userCol": "user",
        "itemCol": "item",
        "ratingCol": "rating",
    }
    if model.random_state is not None:
        spark["seed"] = int(model.random_state)
    return spark


def fit_spark_als(
    spark: SparkSession, snapshot: str, *, params: dict[str, Any], matrix: sp.csr_matrix
) -> ALS:
    """Fit on the snapshot of ``matrix`` and return an ``ALS`` holding Spark's factors.

    Rows and columns without interactions get no factors from Spark and keep zero vectors.
    """
    from pyspark.ml.recommendation import ALS as SparkALS

    ratings = spark.read.parquet(snapshot)
    # One block per core of the cluster: the default 10 is too many on local[2], too few on a fleet.
    blocks = max(spark.sparkContext.defaultParallelism, 1)
    estimator = SparkALS(
        numUserBlocks=blocks, numItemBlocks=blocks, **spark_als_params(params, matrix)
    )
    fitted = estimator.fit(ratings)
    model = ALS(**params)
    model.n_users, model.n_items = matrix.shape
    model.user_factors = _dense_factors(fitted.userFactors, matrix.shape[0], model.factors)
    model.item_factors = _dense_factors(fitted.itemFactors, matrix.shape[1], model.factors)
    return model


def _dense_factors(frame: DataFrame, n_rows: int, rank: int) -> np.ndarray:
    """An (id, features) factor frame as a float32 array of shape (n_rows, rank)."""
    table = frame.select("id", "features").toArrow()
    ids = table.column("id").to_numpy()
    values = table.column("features").combine_chunks().flatten().to_numpy()
    factors = np.zeros((n_rows, rank), dtype=np.float32)
    factors[ids] = values.reshape(-1, rank)
    return factors
