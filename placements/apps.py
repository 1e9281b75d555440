from django.apps import AppConfig


class PlacementsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "placements"
    verbose_name = "Placements and rules"

    def ready(self) -> None:
        from placements import signals

        signals.connect()
