"""Item co-occurrence neighbours computed in Spark, returned as the core's ``ItemKNN``.

The same similarity ``ItemKNN`` builds in numpy: cells re-weighted (none, TF-IDF or BM25, users
as terms), s_ij = Σ_u w_ui w_uj over the shoppers who touched both, normalised (cosine,
Jaccard) or not (dot), the best ``k_neighbors`` per item kept, ties to the lower item id.
Only co-occurring pairs are formed: a self-join of the interactions on the shopper.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recommender.core.knn import ItemKNN

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


def fit_spark_item_knn(
    spark: SparkSession, snapshot: str, *, params: dict[str, Any], shape: tuple[int, int]
) -> ItemKNN:
    """Neighbours of every item of the snapshot's matrix (``shape``) as an ``ItemKNN``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    model = ItemKNN(**params)  # the core's defaults and checks
    n_users, n_items = shape
    ratings = spark.read.parquet(snapshot).where(F.col("rating") > 0)
    weights = _weighted(ratings, model, n_items=n_items).where(F.col("w") > 0).cache()
    left = weights.select("user", F.col("item").alias("i"), F.col("w").alias("wi"))
    right = weights.select("user", F.col("item").alias("j"), F.col("w").alias("wj"))
    # s_ij before normalising: Σ_u w_ui w_uj over the shoppers of both (never i = j)
    dots = (
        left.join(right, "user")
        .where(F.col("i") != F.col("j"))
        .groupBy("i", "j")
        .agg(F.sum(F.col("wi") * F.col("wj")).alias("dot"))
    )
    pairs = _normalised(dots, weights, model)
    best = Window.partitionBy("i").orderBy(F.col("s").desc(), F.col("j").asc())
    kept = (
        pairs.withColumn("rank", F.row_number().over(best))
        .where(F.col("rank") <= model.k_neighbors)
        .select("i", "j", "s")
        .toArrow()
    )
    weights.unpersist()
    rows, cols = kept.column("i").to_numpy(), kept.column("j").to_numpy()
    values = kept.column("s").to_numpy().astype(np.float32)
    similarity = sp.csr_matrix((values, (rows, cols)), shape=(n_items, n_items), dtype=np.float32)
    similarity.sort_indices()
    model.similarity = similarity
    model.n_users, model.n_items = n_users, n_items
    return model


def _weighted(ratings: DataFrame, model: ItemKNN, *, n_items: int) -> DataFrame:
    """(user, item, w): the cells as ``ItemKNN`` weighs them before its Gram product."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    r = F.col("rating")
    if model.similarity_kind == "jaccard":
        return ratings.select("user", "item", F.lit(1.0).alias("w"))
    if model.weighting is None:
        return ratings.select("user", "item", r.cast("double").alias("w"))
    # idf_u = log(N / (1 + df_u)), floored at 0
    df_u = F.count(F.lit(1)).over(Window.partitionBy("user"))
    idf = F.greatest(F.log(F.lit(float(n_items))) - F.log1p(df_u), F.lit(0.0))
    if model.weighting == "tfidf":
        return ratings.select("user", "item", (F.sqrt(r) * idf).alias("w"))
    # BM25: w = r (k1 + 1) / (k1 ((1 - b) + b len_i / ref_len) + r) · idf_u, with ref_len =
    # Σ len_i² / Σ len_i as in ItemKNN (core.knn.bm25_reference_length)
    lengths = ratings.groupBy("item").agg(F.sum(r).alias("len"))
    total, squares = lengths.agg(F.sum("len"), F.sum(F.col("len") ** 2)).first()
    reference = max(float(squares) / float(total), 1e-12) if total else 1.0
    length = F.sum(r).over(Window.partitionBy("item"))
    k1, b = model.bm25_k1, model.bm25_b
    norm = (1.0 - b) + b * length / reference
    return ratings.select("user", "item", (r * (k1 + 1.0) / (k1 * norm + r) * idf).alias("w"))


def _normalised(dots: DataFrame, weights: DataFrame, model: ItemKNN) -> DataFrame:
    """(i, j, s): the similarity ``model.similarity_kind`` makes of each pair's dot product."""
    from pyspark.sql import functions as F

    kind, shrink = model.similarity_kind, model.shrinkage
    if kind == "dot":
        return dots.withColumnRenamed("dot", "s")
    if kind == "jaccard":
        # |U_i| per item; s = |i ∩ j| / (|i| + |j| - |i ∩ j| + shrink)
        norms = weights.groupBy("item").agg(F.count(F.lit(1)).cast("double").alias("n"))
    else:
        # ‖x_i‖; s = x_i·x_j / (‖x_i‖‖x_j‖ + shrink)
        norms = weights.groupBy("item").agg(F.sqrt(F.sum(F.col("w") ** 2)).alias("n"))
    ni = norms.select(F.col("item").alias("i"), F.col("n").alias("ni"))
    nj = norms.select(F.col("item").alias("j"), F.col("n").alias("nj"))
    joined = dots.join(ni, "i").join(nj, "j")
    dot, a, c = F.col("dot"), F.col("ni"), F.col("nj")
    if kind == "jaccard":
        s = dot / (a + c - dot + shrink)
    else:
        s = dot / F.greatest(a * c + shrink, F.lit(1e-12))
    return joined.select("i", "j", s.alias("s"))
