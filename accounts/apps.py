from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """API clients and the roles (groups of Django permissions) they are given."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "accounts"
    verbose_name = "API clients and roles"
