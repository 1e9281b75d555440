from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo builder: makes a realistic shop to try Shelfwise on (``manage.py demo``)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo builder"
