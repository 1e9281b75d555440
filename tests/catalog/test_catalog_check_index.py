"""The serving catalog check runs once a second per web process: it must not scan products."""

from __future__ import annotations

import pytest
from django.db import connection

from catalog.models import Product
from recommender.serving.catalog_state import _fingerprint_sql


@pytest.mark.django_db
def test_the_catalog_checks_latest_product_change_is_read_from_an_index_not_a_table_scan():
    Product.objects.bulk_create(
        Product(sku=f"IDX-{i:05d}", title=f"Product {i}", price=1) for i in range(5_000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Product._meta.db_table}")
        cursor.execute("EXPLAIN " + _fingerprint_sql())
        plan = "\n".join(row[0] for row in cursor.fetchall())

    # max(updated_at) as a backward scan of the index that stops at its first row.
    assert "Index Only Scan Backward using product_updated_at" in plan, plan
