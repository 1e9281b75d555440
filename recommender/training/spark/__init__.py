"""Training on a Spark cluster: ALS (Spark MLlib) and item co-occurrence neighbours.

Chosen by ``SHELFWISE_TRAINER=spark``. The pipeline still builds its matrix as usual; each fit of
a Spark algorithm writes that matrix as a Parquet snapshot the executors read, fits there, and
comes back as the same core model (``ALS``, ``ItemKNN``) the numpy trainer returns, so artifacts,
evaluation, champions and serving do not know where it was fitted. pyspark is imported lazily:
the ``spark`` extra is optional.
"""
