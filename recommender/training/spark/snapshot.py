"""The training matrix as a Parquet snapshot the executors read."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import scipy.sparse as sp

# Rows per Parquet row group: several input splits even for a small shop, so every executor reads.
ROW_GROUP = 250_000


@contextmanager
def parquet_snapshot(matrix: sp.csr_matrix, *, root: str | Path) -> Iterator[str]:
    """Write ``matrix`` (n_users, n_items) as (user, item, rating) rows, its stored non-zero
    cells, under a fresh folder of ``root``; yield the folder's path and remove it afterwards.

    ``root`` must be a path the Spark executors see at the same place (a shared mount).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    coo = matrix.tocoo()
    keep = coo.data != 0
    table = pa.table(
        {
            "user": pa.array(coo.row[keep].astype(np.int32)),
            "item": pa.array(coo.col[keep].astype(np.int32)),
            "rating": pa.array(coo.data[keep].astype(np.float32)),
        }
    )
    folder = Path(root) / f"snapshot-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        pq.write_table(table, folder / "part-00000.parquet", row_group_size=ROW_GROUP)
        yield str(folder.resolve())
    finally:
        shutil.rmtree(folder, ignore_errors=True)
