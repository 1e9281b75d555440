from django.apps import AppConfig


class RecommenderConfig(AppConfig):
    name = "recommender"
    verbose_name = "Recommendations"

    def ready(self) -> None:
        # Training enqueues through the tasks' sender without importing the tasks, which call
        # into training (the import circle .importlinter forbids).
        from recommender import tasks
        from recommender.training import queue

        queue.connect(tasks.send_training)
