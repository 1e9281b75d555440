from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        # Training enqueues through the tasks without importing them: they call into training
        # (the import circle .importlinter forbids).
        from recommender.training import queue

        queue.connect(_send_training)


def _send_training(*, run_id: int) -> str | None:
    # Imported on first use: a management command that never trains does not load the pipeline.
    from recommender.tasks import send_training

    return send_training(run_id=run_id)
