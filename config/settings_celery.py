"""Celery's fixed behaviour (results, acknowledgement, routes, broker timeouts and retries),
part of config.settings; the broker and eager mode depend on REDIS_URL and stay there."""

from config.env import env

CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TIMEZONE = "UTC"
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A SIGKILLed pool child must not silently lose its task: ack after the task, and requeue
# when the worker process is lost. Tasks are idempotent by run id because of this.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
TRAINING_SOFT_TIME_LIMIT = env.int("SHELFWISE_TRAINING_SOFT_TIME_LIMIT", default=45 * 60)
TRAINING_HARD_TIME_LIMIT = env.int("SHELFWISE_TRAINING_HARD_TIME_LIMIT", default=50 * 60)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Above the longest hard limit, or Redis redelivers a training task while it still runs.
    "visibility_timeout": TRAINING_HARD_TIME_LIMIT + 10 * 60,
    # A stalled broker (frozen, or gone without closing the TCP connection) otherwise hangs a
    # publish forever: the "retrain" request waited until the client gave up. The read timeout
    # stays above the workers' 1 s BRPOP, which the server holds open by design.
    "socket_connect_timeout": env.float("CELERY_BROKER_CONNECT_TIMEOUT", default=1.0),
    "socket_timeout": env.float("CELERY_BROKER_SOCKET_TIMEOUT", default=2.0),
    # Publishing connects once, no reconnect loop: the trigger answers 503 and the run is
    # recorded not_queued. (Workers ignore this: they follow BROKER_CONNECTION_MAX_RETRIES.)
    "max_retries": 0,
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# A what-if fits models as training does: it waits on the same queue, never before light work.
CELERY_TASK_ROUTES = {
    "recommender.tasks.train_*": {"queue": "train"},
    "placements.tasks.whatif_*": {"queue": "train"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Workers (and beat) wait out a broker outage, retrying with back-off (2 s, 4 s, … every 30 s)
# for as long as it lasts: with a retry limit they exited on the first outage and stayed dead.
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 2
