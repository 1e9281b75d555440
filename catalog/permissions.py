"""Who may change the catalog through the API: the model permissions the admin checks.

An upsert may create or update a product, and a category named by path is created when missing,
so a product write needs all three.
"""

from __future__ import annotations

from config.api import WritesNeedPermissions

PRODUCT_WRITE_PERMISSIONS = (
    "catalog.add_product",
    "catalog.change_product",
    "catalog.add_category",
)


class CanWriteProducts(WritesNeedPermissions):
    permissions = PRODUCT_WRITE_PERMISSIONS
