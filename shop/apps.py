from django.apps import AppConfig


class ShopConfig(AppConfig):
    """The demo shop: builds a realistic shop to try Shelfwise on (``manage.py demo``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "shop"
    verbose_name = "Demo shop"
