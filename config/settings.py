"""Shelfwise settings, read from environment variables (see .env.example for every variable).

With no DATABASE_URL / REDIS_URL the project runs embedded: a SQLite file, the local-memory
cache and Celery tasks executed in-process, so `demo` works on any machine with Python.
With them set it runs on PostgreSQL and Redis (cache + Celery broker) as in docker-compose.yml.
"""

import os
from datetime import timedelta
from pathlib import Path

from config.env import BASE_DIR, VAR_DIR, env

# Long fixed blocks live in their own modules; every name they define is a setting here.
from config.settings_api import *  # noqa: F403
from config.settings_celery import *  # noqa: F403
from config.settings_celery import TRAINING_HARD_TIME_LIMIT, TRAINING_SOFT_TIME_LIMIT
from config.settings_logging import *  # noqa: F403
from config.settings_security import *  # noqa: F403
from config.settings_spark import *  # noqa: F403

# --- Core ----------------------------------------------------------------------------------------
DEBUG = env.bool("DJANGO_DEBUG", default=True)
# The default key is only good for local development; production must set DJANGO_SECRET_KEY.
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="django-insecure-local-development-only-0b1d9e6c5f"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "drf_standardized_errors",
    "django_filters",
    "django_celery_beat",
    "django_celery_results",
    "django_htmx",
    "import_export",
    "axes",
    "csp",
    "health_check",
    "django_countries",
    "simple_history",
    "catalog",
    "behavior",
    "recommender",
    "placements",
    "demo",
    "accounts",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: placement and rule history records who made each change.
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last: it answers a locked-out login with the lockout page (HTTP 429).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------------
# DATABASE_URL=postgres://user:pass@host:5432/name in production; a SQLite file otherwise.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'shelfwise.sqlite3'}")
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the dev server read while an import or training writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "timeout": 30,
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    VAR_DIR.mkdir(parents=True, exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Redis -----------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                "CLIENT_CLASS": "django_redis.client.DefaultClient",
                # Fail open: with Redis down, recommendations are computed uncached instead of
                # every API call raising (see ECOSYSTEM.md, "Redis down breaks every API call").
                "IGNORE_EXCEPTIONS": True,
                "SOCKET_CONNECT_TIMEOUT": 0.25,
                "SOCKET_TIMEOUT": 0.25,
            },
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="shelfwise"),
            "TIMEOUT": 3600,
        }
    }
    DJANGO_REDIS_IGNORE_EXCEPTIONS = True
    DJANGO_REDIS_LOG_IGNORED_EXCEPTIONS = True
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Celery --------------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
# No broker configured: run tasks in-process so the embedded demo needs no worker.
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
# Embedded mode (no Redis, tasks in-process): a triggered training run trains on a background
# thread, so "Retrain" answers at once and shows live progress instead of freezing the page.
SHELFWISE_TRAIN_IN_BACKGROUND = env.bool(
    "SHELFWISE_TRAIN_IN_BACKGROUND", default=CELERY_TASK_ALWAYS_EAGER and not REDIS_URL
)
# The rest of Celery's settings: config/settings_celery.py.

# --- Countries (django-countries) -----------------------------------------------------------
# Shoppers' countries are ISO 3166-1 codes. The Online Retail file names two regions with no ISO
# code; user-assigned codes keep them apart (and named) rather than folding them into "none".
COUNTRIES_OVERRIDE = {"XC": "Channel Islands", "EU": "European Community"}

# --- Auth, i18n, static --------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Login lockout (django-axes): after SHELFWISE_LOGIN_FAILURE_LIMIT wrong passwords for one
# username from one address, that pair is refused (HTTP 429, even with the right password) until
# the cool-off has passed; other users and other addresses are not affected. Failures made while
# locked out restart the cool-off. `manage.py axes_reset_username NAME` lifts a lockout.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SHELFWISE_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SHELFWISE_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The address as the API's throttles read it, honouring API_NUM_PROXIES (django-ipware, axes'
# own reader, is not installed: without it axes would see only REMOTE_ADDR, the proxy's).
AXES_CLIENT_IP_CALLABLE = "config.client_ip.client_ip"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("DJANGO_TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("SHELFWISE_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"
STORAGES = {
    # Model artifacts are written through this storage (a shared volume or object store).
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# --- REST API: config/settings_api.py -------------------------------------------------------

# --- Admin CSV import/export (django-import-export) -----------------------------------------------
# Without these any staff account may import or export any model it can reach in the admin.
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "add"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
# Off on purpose: import-export 4 only deletes a leading "=" (the value changes for good, and
# + - @ stay live). ProductResource escapes every formula prefix with config.csv_safety instead.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = False

# --- Security (production values come from the environment) --------------------------------------
# Trust X-Forwarded-Proto only behind a proxy that sets it: otherwise any client could claim
# https by sending the header (docker-compose.yml runs behind one and says so).
DJANGO_BEHIND_PROXY = env.bool("DJANGO_BEHIND_PROXY", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if DJANGO_BEHIND_PROXY else None
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("DJANGO_CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG
)
# Preload is a commitment browsers hard-code for months: opt in deliberately, never by default.
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
if not SECURE_HSTS_PRELOAD:
    SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "preload not set": off on purpose, see above
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# Health probes answer plain HTTP from the orchestrator inside the network.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
# The Content-Security-Policy: config/settings_security.py.
# The OpenAPI schema and Swagger UI need a login unless this is true (they map every endpoint).
SHELFWISE_API_DOCS_PUBLIC = env.bool("SHELFWISE_API_DOCS_PUBLIC", default=False)
# /health/ tells anyone only "ok" or "unavailable"; a caller sending "Authorization: Bearer
# <this token>" (or a logged-in staff member) gets every check's result. Empty: staff only.
SHELFWISE_HEALTH_TOKEN = env.str("SHELFWISE_HEALTH_TOKEN", default="")
# Beat counts as stalled when its newest periodic task was sent longer ago than this: the
# reconciler goes every 5 minutes and the scheduler saves its send times every 3.
SHELFWISE_BEAT_MAX_AGE_SECONDS = env.int("SHELFWISE_BEAT_MAX_AGE_SECONDS", default=10 * 60)

# --- Logging: config/settings_logging.py ---------------------------------------------------

# --- Recommender knobs (passed into recommender.core as arguments) --------------------------------
# How much each event kind says about interest: the defaults sit in the kinds table
# (behavior/kinds.py, read through event_weights()); SHELFWISE_WEIGHT_<KIND> overrides one kind's.
SHELFWISE_EVENT_WEIGHTS = {
    name.removeprefix("SHELFWISE_WEIGHT_").lower(): env.float(name)
    for name in sorted(os.environ)
    if name.startswith("SHELFWISE_WEIGHT_")
}
SHELFWISE_HALF_LIFE_DAYS = env.float("SHELFWISE_HALF_LIFE_DAYS", default=90.0)
# Days of history before the newest event that training reads; 0 = all of it (the default: the
# half-life decay already down-weights old events). Bound it once the events table outgrows memory.
SHELFWISE_TRAINING_WINDOW_DAYS = env.int("SHELFWISE_TRAINING_WINDOW_DAYS", default=0)
SHELFWISE_DEFAULT_K = env.int("SHELFWISE_DEFAULT_K", default=10)
SHELFWISE_MAX_K = 100
# A relative share: a new version serves when its NDCG is at least champion × (1 − tolerance).
SHELFWISE_PROMOTION_TOLERANCE = env.float("SHELFWISE_PROMOTION_TOLERANCE", default=0.02)
# The shopper's latest events a request reads (and Redis keeps per shopper): "for you" never
# shows a product among them again. It read 50 until Stop 21, and a shopper past 50 events was
# shown products they had viewed before: on each demo shop's training holdout (before the replay
# cut, bench/README.md "Stop 21"), new-product NDCG@10 with serving's exclusion went 50 -> 200
# events: fashion 0.1641 -> 0.1756, grocery 0.1779 -> 0.1843, electronics 0.3050 -> 0.3123
# (excluding every product touched: 0.1765 / 0.1844 / 0.3129).
SHELFWISE_RECENT_EVENTS = env.int("SHELFWISE_RECENT_EVENTS", default=200)
# The newest of them the model scores (at most SHELFWISE_RECENT_EVENTS): a request's model cost
# grows with the products scored (EASE reads one dense row per product), and the older events
# weigh little at the live half-life; the training holdout scores the same newest events.
SHELFWISE_SCORED_EVENTS = env.int("SHELFWISE_SCORED_EVENTS", default=50)
SHELFWISE_ARTIFACT_DIR = "models"

# --- Training pipeline (recommender.training) ----------------------------------------------
# Trained by the nightly run and by a trigger that names no algorithms; names must be registered
# in recommender.core.ALGORITHMS (unknown ones are reported, not silently skipped).
SHELFWISE_TRAINING_ALGORITHMS = env.list(
    "SHELFWISE_TRAINING_ALGORITHMS",
    # "content" is the catalog's feature index (search, new products), trained in every run.
    default=["popularity", "trending", "item_knn", "als", "ease", "content"],
)
# The hourly refresh retrains only the cheap models whose output moves within hours.
SHELFWISE_TRENDING_ALGORITHMS = env.list("SHELFWISE_TRENDING_ALGORITHMS", default=["trending"])
# Hyper-parameters per algorithm, passed to the core class as keyword arguments.
# Tuned on this pipeline's weighted matrix (cells ~ 8 × log1p(quantity) ≈ 20, not 1 as in binary
# data) on a validation slice cut before the holdout, each shopper scored from the rows serving
# builds (latest 50 events, 72 h real-time half-life): `nice -n 10 .venv/bin/python -m
# bench.pipeline_tuning` on Online Retail (bench/README.md, bench.pipeline_tuning). Validation
# NDCG@10 old -> new below; trending scores 0.0651 there.
# EASE inverts its Gram matrix whole up to this many products; past it, only the most-supported
# this many are inputs (bench/README.md, "Large catalogues"). LAPACK never sees more than 8,192.
# 4,096 inputs scored 1.000x and 1.003x of 8,192 on the planted demo shop's training holdout
# (9,720 and 19,256 products: intervals within 1 %), at a third of the CPU; at 57k products
# one fit took 37 CPU s and 1.4 GB against 82 CPU s and 3.0 GB. A shop of fewer products (Online
# Retail, MovieLens) is full EASE either way.
SHELFWISE_EASE_DENSE_ITEMS = env.int("SHELFWISE_EASE_DENSE_ITEMS", default=4_096)
SHELFWISE_ALGORITHM_PARAMS: dict[str, dict] = {
    "popularity": {},
    "trending": {"per_user_cap": 1.0},
    # BM25 then dot product (implicit's BM25Recommender). k1 1.2, b 0.5 (tuned on binary
    # purchases) 0.0592 -> k1 12, b 1 0.0686, coverage 0.10 -> 0.31: larger cells need a larger
    # k1 before BM25 saturates. Flat around it (k1 6: 0.0683-0.0689 with b 0.75-1). BM25's
    # reference length is now the interaction-weighted mean (issue 14: the item mean buried the
    # head of large catalogues): 0.0679 -> 0.0666 here, the demo shop 0.0011 -> 0.077 at 20k.
    "item_knn": {
        "similarity": "dot",
        "weighting": "bm25",
        "k_neighbors": 300,
        "bm25_k1": 12.0,
        "bm25_b": 1.0,
    },
    # Confidence is 1 + alpha × cell: alpha 10 made it ~200 and scored 0.0498; alpha 0.25 0.0753
    # (coverage 0.38 -> 0.26). Regularization 0.1 / 1 / 3 moved it < 0.001; 128 factors scored
    # lower (0.0700).
    "als": {"factors": 64, "iterations": 15, "regularization": 0.1, "alpha": 0.25},
    # Fitted on the binary matrix (SHELFWISE_ALGORITHM_MATRIX_TRANSFORM) at the class default
    # lambda 500 for binary data. On the weighted matrix (cells ~20) the Gram matrix grows with
    # the square of the cells: there lambda 500 scored 0.0493 and 50,000 0.0657 (the default until
    # Stop 21). On each shop's validation window (bench/README.md "Stop 21", live rows at 2,160 h
    # damped, as the search tries first) binary lambda 500 beat weighted 50,000: Online Retail
    # 0.0786 vs 0.0672, fashion 0.1287 vs 0.1230, grocery 0.0691 vs 0.0497 NDCG@10. A search's
    # 30-second share found binary cells on the demo shops, never on Online Retail (2 EASE fits).
    # Past dense_items products EASE takes only that many most-supported products as inputs
    # (core.ease; the full inverse took 478 s at 16k items, the head 8,192 about a minute).
    "ease": {"regularization": 500.0, "dense_items": SHELFWISE_EASE_DENSE_ITEMS},
    "content": {},
}
# Algorithms whose matrix decays faster than SHELFWISE_HALF_LIFE_DAYS: "trending" means lately.
# item_knn decays slower: 180 days beat no decay in the Online Retail validation grid.
SHELFWISE_ALGORITHM_HALF_LIFE_DAYS: dict[str, float] = {"trending": 7.0, "item_knn": 180.0}
# How each algorithm's training cells are transformed before its fit when untuned ("weighted":
# kind x value weights as built; "log1p"; "binary": presence). EASE's lambda is set for binary.
SHELFWISE_ALGORITHM_MATRIX_TRANSFORM: dict[str, str] = {"ease": "binary"}
# The last share of the window's time is held out to evaluate each new version (and its champion).
SHELFWISE_HOLDOUT_FRACTION = env.float("SHELFWISE_HOLDOUT_FRACTION", default=0.1)
SHELFWISE_EVAL_K = 10
# Seconds of hyper-parameter search per training run, shared by the tuned algorithms, on a
# validation window carved before the holdout (recommender/training/tuning.py); 0 turns it off.
# Warm-started from the last run's choice, so a nightly run improves on yesterday's.
SHELFWISE_TUNING_BUDGET_SECONDS = env.float("SHELFWISE_TUNING_BUDGET_SECONDS", default=120.0)
# Configurations whose NDCG is within this share of the best one's (on the search's validation
# window, or a tuned one against its defaults on the holdout) count as tied; the tie goes to the
# one that recommends more of the catalog (tuning.preferred; 0: the best NDCG alone).
# bench/README.md "Stop 21".
SHELFWISE_COVERAGE_TIE_TOLERANCE = env.float("SHELFWISE_COVERAGE_TIE_TOLERANCE", default=0.02)
# Fit the chosen configuration again on the whole window (holdout included) before it serves:
# otherwise the newest tenth of the window, the freshest behaviour, never reaches serving.
SHELFWISE_REFIT_WHOLE_WINDOW = env.bool("SHELFWISE_REFIT_WHOLE_WINDOW", default=True)
# Holdout shoppers scored per model: a seeded sample past this many, so evaluation stops growing
# with the shop (scale 30 scored 150k shoppers x 60k products per model). Each version records
# the interval the sample implies (ndcg@10_ci95).
SHELFWISE_EVAL_MAX_SHOPPERS = env.int("SHELFWISE_EVAL_MAX_SHOPPERS", default=5_000)
# Purchases carry quantities up to thousands (wholesale): log1p keeps one bulk order from
# outweighing a shopper's whole history.
SHELFWISE_VALUE_TRANSFORM = env.str("SHELFWISE_VALUE_TRANSFORM", default="log1p")
# BLAS threads per training task: the worker machine has 2 cores and runs one training at a time.
SHELFWISE_TRAINING_BLAS_THREADS = env.int("SHELFWISE_TRAINING_BLAS_THREADS", default=2)
# Each algorithm's fit runs in a child process (recommender/training/isolation.py): a native crash,
# an out-of-memory kill or a fit past the timeout fails that algorithm, not the run. Off only to
# debug a fit in-process. The timeout is capped by the run's soft time limit.
SHELFWISE_FIT_ISOLATION = env.bool("SHELFWISE_FIT_ISOLATION", default=True)
SHELFWISE_FIT_TIMEOUT_SECONDS = min(
    env.float("SHELFWISE_FIT_TIMEOUT_SECONDS", default=20 * 60.0), TRAINING_SOFT_TIME_LIMIT
)
SHELFWISE_HEARTBEAT_SECONDS = env.float("SHELFWISE_HEARTBEAT_SECONDS", default=10.0)
# A running run silent for this long lost its worker; the reconciler re-queues it.
SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS = env.float(
    "SHELFWISE_HEARTBEAT_TIMEOUT_SECONDS", default=120.0
)
SHELFWISE_TRAINING_MAX_ATTEMPTS = env.int("SHELFWISE_TRAINING_MAX_ATTEMPTS", default=3)
# A queued run no worker claimed by then lost its message (the broker would have redelivered an
# unacked one by now); the reconciler fails it so it stops blocking new triggers.
SHELFWISE_QUEUED_TIMEOUT_SECONDS = env.int(
    "SHELFWISE_QUEUED_TIMEOUT_SECONDS", default=TRAINING_HARD_TIME_LIMIT + 20 * 60
)

# --- Serving (recommender.serving) ----------------------------------------------------------------
# The model behind "for you": "auto" serves the champion with the best NDCG on a shared
# holdout, a personalised one only when it beats popularity/trending there by the promotion
# tolerance (serving_choice); naming an algorithm ("als", "item_knn", "ease") pins it.
SHELFWISE_SERVING_MODEL = env.str("SHELFWISE_SERVING_MODEL", default="auto")
# "Because you bought X" only when X carries at least this share of the pick's score (among the
# shopper's products); below it the pick says "picked for you from what you browsed".
SHELFWISE_REASON_MIN_SHARE = env.float("SHELFWISE_REASON_MIN_SHARE", default=0.25)
# Real-time scoring: an event this many hours older than the shopper's newest counts half (a
# session's clicks matter now). The training holdout scores shoppers the same way
# (live_event_weights). Measured, not changed: on Online Retail validation with the latest 50
# events (bench.pipeline_tuning), 720 h beat 72 h for every tuned model (EASE 0.0657 -> 0.0691,
# item-kNN 0.0686 -> 0.0713, ALS 0.0753 -> 0.0766; 24 h and 168 h scored like 72 h, 2160 h like
# 720 h), but that data is purchases only, and at 720 h a search or a click no longer moves the
# list of a shopper with purchase history (tests/serving/test_content_serving.py). A shop that
# tracks purchases only can set 720.
SHELFWISE_REALTIME_HALF_LIFE_HOURS = env.float("SHELFWISE_REALTIME_HALF_LIFE_HOURS", default=72.0)
# At most this share of one response may come from one category (0 < share <= 1).
SHELFWISE_DIVERSITY_MAX_SHARE = env.float("SHELFWISE_DIVERSITY_MAX_SHARE", default=0.5)
# Similar items: behavioural neighbours weigh n / (n + this) against content neighbours for a
# product n distinct shoppers touched, so a product with little history leans on its description.
SHELFWISE_SIMILAR_CONTENT_PRIOR = env.float("SHELFWISE_SIMILAR_CONTENT_PRIOR", default=10.0)
SHELFWISE_RESPONSE_CACHE_SECONDS = env.int("SHELFWISE_RESPONSE_CACHE_SECONDS", default=300)
# "Recommended in the last day" counters are written at most this often per web process (one
# round trip per interval instead of one per response); 0 writes every response at once.
SHELFWISE_IMPRESSIONS_FLUSH_SECONDS = env.float("SHELFWISE_IMPRESSIONS_FLUSH_SECONDS", default=1.0)
# The served-responses stream waits for the worker's drain (every minute); the cap (~300 bytes
# an entry) only bites when the drain has been stopped for a long while, and drops the oldest.
SHELFWISE_IMPRESSIONS_STREAM_MAX = env.int("SHELFWISE_IMPRESSIONS_STREAM_MAX", default=1_000_000)
# Off: responses still carry ids but log no impression (no KPIs, no "recommended" counters);
# bench/serving.py measures what logging costs with it.
SHELFWISE_LOG_IMPRESSIONS = env.bool("SHELFWISE_LOG_IMPRESSIONS", default=True)
# Attribution (README, "Proving it works"): a purchase counts for a recommendation clicked
# (or, reported apart, only shown) at most this many hours before it.
SHELFWISE_ATTRIBUTION_HOURS = env.int("SHELFWISE_ATTRIBUTION_HOURS", default=24)
# Per-shopper shown history (behavior.shown_history) for placements' rotation rules and
# "recently shown" exclusions: kept this many hours after its last write (the longest window a
# rule may use), and at most this many showings and clicks per shopper (~40 bytes each).
SHELFWISE_SHOWN_HISTORY_HOURS = env.int("SHELFWISE_SHOWN_HISTORY_HOURS", default=72)
SHELFWISE_SHOWN_HISTORY_MAX = env.int("SHELFWISE_SHOWN_HISTORY_MAX", default=300)
# How often a web process asks whether the champion or the catalog changed (one cheap query).
SHELFWISE_MODEL_CHECK_SECONDS = env.float("SHELFWISE_MODEL_CHECK_SECONDS", default=2.0)
SHELFWISE_CATALOG_CHECK_SECONDS = env.float("SHELFWISE_CATALOG_CHECK_SECONDS", default=1.0)
# Trending = weighted events of the last N days before the newest event, cached this long.
SHELFWISE_TRENDING_DAYS = env.int("SHELFWISE_TRENDING_DAYS", default=30)
SHELFWISE_TRENDING_CACHE_SECONDS = env.int("SHELFWISE_TRENDING_CACHE_SECONDS", default=300)
# New arrivals = eligible products created in the last N days before the request's clock; only
# they are called "new". Fewer than k of them: the next newest fill in, labelled with their date.
SHELFWISE_NEW_ARRIVALS_DAYS = env.int("SHELFWISE_NEW_ARRIVALS_DAYS", default=30)
# Buy again ranks a shopper's purchases by TIFU-KNN's personal frequency: a purchase this many
# days old counts half (short: the latest basket first; long: the most frequent first). 180 was
# chosen on the validation window before the replay cut (never the test) of Online Retail and of
# the demo shop alike (manage.py evaluate, grid 1-3650 days); 90 and 365 scored within 1 %.
SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS = env.float("SHELFWISE_BUY_AGAIN_HALF_LIFE_DAYS", default=180.0)
# Items per write call (events, products); larger batches answer 413.
SHELFWISE_MAX_BATCH = 1000
# Largest request body Django reads (its default is 2.5 MB). A full batch of 1,000 events with
# every text field at its limit is about 5 MB once non-ASCII is JSON-escaped, and products carry
# free-text descriptions; a larger body answers a JSON 413 (config.api.exception_handler).
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("SHELFWISE_MAX_REQUEST_BYTES", default=32 * 1024 * 1024)
