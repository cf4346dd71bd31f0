"""Settings shared by every environment. Values come from the environment via config.env.

With no environment set, the project runs on an embedded default that needs no server:
SQLite in var/ and kombu's filesystem broker, so a real Celery worker still runs.
`DATABASE_URL` switches to PostgreSQL and `REDIS_URL` to Redis.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab

from config.env import env_bool, env_float, env_int, env_list, env_rate, env_str, env_url

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("CRM_VAR_DIR") or BASE_DIR / "var")

SECRET_KEY = env_str("SECRET_KEY", "insecure-local-only-key-change-me")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "simple_history",
    "axes",
    "crm",
    "sentiment",
    "churnmodel",
    "interventions",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # Records who made each change to models with history (intervention rules).
    "simple_history.middleware.HistoryRequestMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Locks out repeated failed logins (web UI and admin alike); keep it last.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Five failed logins for one username from one address lock that pair out for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "crm.web.access.axes_username"
AXES_LOCKOUT_TEMPLATE = "web/locked_out.html"

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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


def database_config(url: str | None, sqlite_path: Path) -> dict:
    """Build the default database from `DATABASE_URL`, or a tuned SQLite file without one.

    SQLite runs in WAL mode with IMMEDIATE transactions so the web process and a worker
    can write concurrently without "database is locked" errors on upgrade from read to write.
    """
    if url:
        config: dict[str, Any] = dict(
            dj_database_url.parse(url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))
        )
        if str(config["ENGINE"]).endswith("postgresql"):
            # PostgreSQL's JIT compiles each large aggregate anew: in the churn features it
            # spent 420 of 690 ms of a query compiling (benchmarks/churn_speed.py).
            config.setdefault("OPTIONS", {})["options"] = "-c jit=off"
        return config
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(sqlite_path),
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }


DATABASE_URL = env_url("DATABASE_URL", schemes=("postgres", "postgresql", "sqlite"))
DATABASES = {"default": database_config(DATABASE_URL, VAR_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- REST API -------------------------------------------------------------------------
# Integrations authenticate with their own revocable token (crm.models.ApiToken, created
# in the admin); each token has its own request budget, API_TOKEN_RATE unless the token
# sets one. The session is for the web UI and the browsable schema.
API_TOKEN_RATE = env_rate("API_TOKEN_RATE", "1200/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "crm.api.authentication.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["crm.api.permissions.ModelPermissions"],
    "DEFAULT_THROTTLE_CLASSES": ["crm.api.throttling.ApiTokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_token": API_TOKEN_RATE},
    "DEFAULT_PAGINATION_CLASS": "crm.api.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PARSER_CLASSES": ["crm.api.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "crm.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Feedback-to-retention CRM API",
    "DESCRIPTION": "Customers, orders, behaviour events, reviews and tickets of an online shop.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# A batch of CRM_MAX_EVENTS_PER_REQUEST events with their payloads runs to a few MB;
# Django's default 2.5 MB would refuse it. Larger bodies get a 413 (crm.api.errors).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024)

# --- The CRM's own knobs ----------------------------------------------------------------
# Longest review body / ticket message we accept. Longer texts are refused at the door
# (API 400, CSV bad row) rather than truncated, so nothing is silently lost.
CRM_MAX_TEXT_LENGTH = env_int("CRM_MAX_TEXT_LENGTH", 20_000)
CRM_DEFAULT_CURRENCY = env_str("CRM_DEFAULT_CURRENCY", "EUR")
CRM_MAX_EVENTS_PER_REQUEST = 1_000
# Widest CSV header the importer accepts (our widest kind has 12 columns; shops' exports
# add a few of their own). A wider file is refused before any row is read: its rows would
# cost memory and time per field for nothing.
CRM_IMPORT_MAX_COLUMNS = env_int("CRM_IMPORT_MAX_COLUMNS", 200)
# Where generate_demo writes its hidden ground truth: a file, never a table the
# product's features could read.
CRM_DEMO_TRUTH_PATH = Path(env_str("CRM_DEMO_TRUTH_PATH") or VAR_DIR / "demo" / "ground_truth.csv")
# CSV files uploaded in the admin (crm.ImportJob) and their rejects: under VAR_DIR, which web
# and workers share, and never under a served folder (they hold customers' personal data).
CRM_IMPORT_DIR = VAR_DIR / "imports"
# Largest upload. 2 GiB, so that a shop's full 2 GB export goes in one piece; the upload
# streams to disk (memory stays flat) and is cut off as soon as it passes this.
CRM_IMPORT_MAX_BYTES = env_int("CRM_IMPORT_MAX_BYTES", 2 * 1024**3)
# Longest an uploaded import may run (seconds). Longer than the global task limit: the
# importer loads about 6,000 rows/s, so a 2 GB file of short rows takes over an hour.
CRM_IMPORT_TIME_LIMIT = env_int("CRM_IMPORT_TIME_LIMIT", 4 * 3600)
# Days an import's files (its rejects CSV, an upload kept for "Run again") and the bad rows
# quoted on its page are kept after it finished: they hold customers' personal data. The
# counts stay. A file no job names (left by a request or worker that died) goes after a day.
CRM_IMPORT_KEEP_DAYS = env_int("CRM_IMPORT_KEEP_DAYS", 30)

# --- Sentiment ----------------------------------------------------------------------------
# Both analyzers score every text; each score row records the analyzer's name and version.
SENTIMENT_ANALYZERS = env_list("SENTIMENT_ANALYZERS", ["vader", "transformer"])
# Whose label counts where one label is needed (agents' overrides win over both).
SENTIMENT_PRIMARY_ANALYZER = env_str("SENTIMENT_PRIMARY_ANALYZER", "transformer")
# The fine-tuned adapter + head; `train_sentiment --activate` writes a new one here.
SENTIMENT_TRANSFORMER_DIR = Path(
    env_str("SENTIMENT_TRANSFORMER_DIR") or BASE_DIR / "sentiment" / "artifacts" / "transformer"
)
# torch (float32, the reference), torch-int8, or onnx-int8 (fastest on CPU; the quantised
# graph is built once per model version and cached in SENTIMENT_MODEL_CACHE).
SENTIMENT_TRANSFORMER_RUNTIME = env_str("SENTIMENT_TRANSFORMER_RUNTIME", "onnx-int8")
SENTIMENT_TRANSFORMER_THREADS = env_int("SENTIMENT_TRANSFORMER_THREADS", 0)  # 0: torch's default
SENTIMENT_MODEL_CACHE = VAR_DIR / "models"
# The public labelled data `train_sentiment` reads by default (see shared/data/README.md).
SENTIMENT_TRAINING_DATA = Path(
    env_str("SENTIMENT_TRAINING_DATA") or BASE_DIR.parent / "shared" / "data"
)
SENTIMENT_BATCH_SIZE = 64
# The task (by name) that gets the customers of freshly scored texts: the churn re-score.
SENTIMENT_SCORED_TASK = env_str(
    "SENTIMENT_SCORED_TASK", "churnmodel.score_customers", allow_empty=True
)
# The sweeper enqueues at most this many texts per run; the rest wait for the next run,
# so a long broker outage does not flood the queue in one go.
SENTIMENT_SWEEP_LIMIT = env_int("SENTIMENT_SWEEP_LIMIT", 20_000)
# Weeks the voice-of-the-customer dashboard shows; finished weeks are aggregated nightly.
SENTIMENT_VOICE_WEEKS = env_int("SENTIMENT_VOICE_WEEKS", 26)
# Seconds the voice page keeps its live part (this week, the worst mentions); 0: none.
SENTIMENT_VOICE_CACHE_SECONDS = env_int("SENTIMENT_VOICE_CACHE_SECONDS", 300)

# --- Churn ---------------------------------------------------------------------------------
# Churned at T = active before T and no purchase (or, with CHURN_TARGET=activity, no
# purchase, visit or other event) in (T, T + horizon]. A trained model keeps its own.
CHURN_HORIZON_DAYS = env_int("CHURN_HORIZON_DAYS", 60)
CHURN_TARGET = env_str("CHURN_TARGET", "purchase")
# Who counts as active before T: bought within this many days (0: ever bought). Customers
# gone for longer have churned already; leaving them out makes the model about who leaves
# next, not about who left.
CHURN_ACTIVE_DAYS = env_int("CHURN_ACTIVE_DAYS", 0)
# Risk bands: probability >= MEDIUM is "medium", >= HIGH is "high", else "low".
CHURN_RISK_MEDIUM = env_float("CHURN_RISK_MEDIUM", 0.30)
CHURN_RISK_HIGH = env_float("CHURN_RISK_HIGH", 0.60)
# Trained model artifacts (one file per version, named by its checksum-verified id).
CHURN_MODEL_DIR = Path(env_str("CHURN_MODEL_DIR") or VAR_DIR / "models" / "churn")
# The batch computes features for this many customers per query set (each kind of record
# is read once per chunk: ~900 MB at 100,000), and writes scores 10,000 at a time.
CHURN_SCORE_CHUNK = env_int("CHURN_SCORE_CHUNK", 100_000)
CHURN_SEGMENTS = env_int("CHURN_SEGMENTS", 5)
# A feature whose population stability index passes this at batch scoring is flagged.
CHURN_DRIFT_THRESHOLD = env_float("CHURN_DRIFT_THRESHOLD", 0.2)
CHURN_NIGHTLY_HOUR = env_int("CHURN_NIGHTLY_HOUR", 2)

# --- Interventions ---------------------------------------------------------------------------
# The contact ledger's minimum gap between two interventions for one customer, any rule.
INTERVENTIONS_CONTACT_GAP_DAYS = env_int("INTERVENTIONS_CONTACT_GAP_DAYS", 14)
# What an agent call and an email cost a rule's budget (EUR); a gift costs its unit cost,
# a coupon its discount when redeemed.
INTERVENTIONS_CALL_COST = env_float("INTERVENTIONS_CALL_COST", 6.0)
INTERVENTIONS_EMAIL_COST = env_float("INTERVENTIONS_EMAIL_COST", 0.0)
# The order value a percent coupon's cost is estimated on when the shop has no orders.
INTERVENTIONS_DEFAULT_ORDER_VALUE = env_float("INTERVENTIONS_DEFAULT_ORDER_VALUE", 50.0)
# The nightly outcome measurement and decision batch, after the churn batch.
INTERVENTIONS_NIGHTLY_HOUR = env_int("INTERVENTIONS_NIGHTLY_HOUR", 4)
# Who gets the customers whose risk was just updated, by task name (empty: nobody).
CHURN_SCORED_TASK = env_str("CHURN_SCORED_TASK", "interventions.decide_customers", allow_empty=True)
CHURN_BATCH_SCORED_TASK = env_str(
    "CHURN_BATCH_SCORED_TASK", "interventions.decide_all", allow_empty=True
)

# --- Email (interventions send coupons and emails through Django's backend) ----------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 20)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "shop@example.com")

# --- Celery --------------------------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss"))
CELERY_FILESYSTEM_DIR = VAR_DIR / "celery"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # A message a worker took but never acknowledged (it died) goes back on the queue
    # after the visibility timeout; it must exceed the longest task (the nightly batch).
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        "socket_connect_timeout": 3,
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_SECONDS", 10),
        "unacked_restore_throttle": 1,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_FILESYSTEM_DIR / "queue"),
        "data_folder_out": str(CELERY_FILESYSTEM_DIR / "queue"),
        "processed_folder": str(CELERY_FILESYSTEM_DIR / "processed"),
        "control_folder": str(CELERY_FILESYSTEM_DIR / "control"),
        "store_processed": False,
        # The filesystem transport polls; the default second would cap it near 1 batch/s.
        "polling_interval": 0.1,
    }
    # The filesystem transport needs its folders before the first publish.
    for _folder in ("queue", "processed", "control"):
        (CELERY_FILESYSTEM_DIR / _folder).mkdir(parents=True, exist_ok=True)
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Each worker process loads the sentiment models when it starts (sentiment.tasks); the
# first start of a new model version also builds its quantised graph, which takes a while.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = 180
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish must not hang a web request when the broker is down: the database keeps
# the work and the sweeper enqueues it later.
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 2,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sentiment-sweep-unscored": {
        "task": "sentiment.sweep_unscored",
        "schedule": timedelta(minutes=env_int("SENTIMENT_SWEEP_MINUTES", 2)),
        "options": {"expires": 110},
    },
    "sentiment-voice-nightly": {
        "task": "sentiment.aggregate_voice",
        "schedule": crontab(hour=CHURN_NIGHTLY_HOUR, minute=0),
        "options": {"expires": 6 * 3600},
    },
    "churn-score-nightly": {
        "task": "churnmodel.score_all",
        "schedule": crontab(hour=CHURN_NIGHTLY_HOUR, minute=30),
    },
    "crm-sweep-import-jobs": {
        "task": "crm.sweep_import_jobs",
        "schedule": timedelta(minutes=5),
        "options": {"expires": 240},
    },
    "interventions-count-matches": {
        "task": "interventions.count_matches",
        "schedule": timedelta(minutes=env_int("INTERVENTIONS_COUNT_MINUTES", 10)),
        "options": {"expires": 300},
    },
    "interventions-outcomes-nightly": {
        "task": "interventions.measure_outcomes",
        "schedule": crontab(hour=INTERVENTIONS_NIGHTLY_HOUR, minute=0),
    },
}

# --- Health ---------------------------------------------------------------------------------
# What /healthz checks, part name -> function (see config.health); each app owns its check.
HEALTH_CHECKS = {
    "database": "config.health.check_database",
    "broker": "config.health.check_broker",
    "churn_model": "churnmodel.health.check_active_model",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}, "axes": {"level": "WARNING"}},
}
