"""SMS Desk settings: one file, every value from the environment (a `.env` file is optional).

The zero-setup default (no variables set) is SQLite under `var/` and a broker on the filesystem,
with the Exotel sandbox's credentials. Production sets DATABASE_URL, CELERY_BROKER_URL,
SECRET_KEY, ALLOWED_HOSTS and real EXOTEL_* credentials. See the table in README.md.
"""

from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Django core
DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env.str("SECRET_KEY", default="")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])
if DEBUG:
    SECRET_KEY = SECRET_KEY or "dev-only-insecure-key-never-use-in-production"
    ALLOWED_HOSTS = ALLOWED_HOSTS or ["127.0.0.1", "localhost", "[::1]", "testserver"]
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
if not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DEBUG is off.")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "conversations",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "smsdesk.urls"
WSGI_APPLICATION = "smsdesk.wsgi.application"

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

# Database: SQLite in WAL mode by default so web and worker can write at once.
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'smsdesk.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": env.str("SQLITE_TEST_NAME", default="")}
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/inbox/"
LOGOUT_REDIRECT_URL = "login"
# The inbox (issue 6): when true, agents (not staff) see only the conversations assigned to them.
INBOX_ASSIGNED_ONLY = env.bool("INBOX_ASSIGNED_ONLY", default=False)
# One-click outcomes that close a conversation (comma-separated); the reply lock's lifetime after
# the reply box's last heartbeat.
INBOX_OUTCOMES = env.list("INBOX_OUTCOMES", default=["Confirmed", "Rescheduled", "Resolved"])
INBOX_REPLY_LOCK_SECONDS = env.int("INBOX_REPLY_LOCK_SECONDS", default=30)

# Times are stored in UTC and shown in India Standard Time.
LANGUAGE_CODE = "en-in"
TIME_ZONE = "Asia/Kolkata"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# HTTPS hardening: opt-in for deployments behind TLS, so plain HTTP on 127.0.0.1 keeps working.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=SECURE_SSL_REDIRECT)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Django REST framework
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.SearchFilter",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "conversations.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "conversations.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SMS Desk API",
    "DESCRIPTION": "Two-way SMS through Exotel: sends, conversations, DLT templates, opt-outs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every operation documents its 4xx answers in the API's one error shape.
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "conversations.api.schema.add_error_responses",
    ],
}

# Celery: a real broker always; the filesystem transport needs no server for `make run`.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport: producer and consumer share one folder.
    _broker_folder = Path(env.str("CELERY_BROKER_FOLDER", default=str(VAR_DIR / "broker")))
    for _sub in ("queue", "control"):
        (_broker_folder / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_folder / "queue"),
        "data_folder_out": str(_broker_folder / "queue"),
        "control_folder": str(_broker_folder / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A publish retries once (a stale connection reconnects), then gives up: with the broker down a
# webhook still answers 200 at once and the sweep enqueues it later. Celery's default (3 retries
# behind a pool of 10) made webhooks wait up to 15 s under load (tests/reliability).
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "sweep-webhook-events": {
        "task": "conversations.tasks.sweep_webhook_events_task",
        "schedule": 60.0,
    },
    "sweep-outbox": {"task": "conversations.tasks.sweep_outbox_task", "schedule": 30.0},
    "expire-flow-sessions": {
        "task": "conversations.tasks.expire_flow_sessions_task",
        "schedule": 300.0,
    },
    "reconcile-messages": {
        "task": "conversations.tasks.reconcile_messages_task",
        "schedule": 300.0,
    },
}
# Ask Exotel about messages with no final status after this long (SMS details API).
RECONCILE_AFTER_MINUTES = env.int("RECONCILE_AFTER_MINUTES", default=30)
RECONCILE_BATCH_SIZE = env.int("RECONCILE_BATCH_SIZE", default=200)

# Exotel: without real credentials the app talks to the local sandbox (`make run` starts it).
EXOTEL_USES_SANDBOX = not env.str("EXOTEL_API_KEY", default="")
EXOTEL_API_KEY = env.str("EXOTEL_API_KEY", default="") or "sandbox-key"
EXOTEL_API_TOKEN = env.str("EXOTEL_API_TOKEN", default="sandbox-token")
EXOTEL_ACCOUNT_SID = env.str("EXOTEL_ACCOUNT_SID", default="sandbox")
EXOTEL_SUBDOMAIN = env.str("EXOTEL_SUBDOMAIN", default="api.exotel.com")
EXOTEL_BASE_URL = env.str(
    "EXOTEL_BASE_URL", default="http://127.0.0.1:8025" if EXOTEL_USES_SANDBOX else ""
)
EXOTEL_SANDBOX_PORT = env.int("EXOTEL_SANDBOX_PORT", default=8025)
EXOTEL_SENDER_ID = env.str("EXOTEL_SENDER_ID", default="")
EXOTEL_DLT_ENTITY_ID = env.str("EXOTEL_DLT_ENTITY_ID", default="")
EXOTEL_WEBHOOK_TOKEN = env.str("EXOTEL_WEBHOOK_TOKEN", default="")
EXOTEL_WEBHOOK_ALLOWED_IPS = env.list("EXOTEL_WEBHOOK_ALLOWED_IPS", default=[])
# Webhooks kick the task that applies their events at most once per this many seconds per
# process (the first kick at once, one trailing kick for the rest of the window).
WEBHOOK_DRAIN_KICK_SECONDS = env.float("WEBHOOK_DRAIN_KICK_SECONDS", default=0.1)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
PHONE_DEFAULT_REGION = env.str("PHONE_DEFAULT_REGION", default="IN")
# Only for bench/: exposes /bench/bare, a view that does nothing (the benchmarks' baseline).
BENCH_ENDPOINTS = env.bool("BENCH_ENDPOINTS", default=False)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Campaigns (issue 7): bulk sends paced across workers; see conversations/services/campaign_*.py
# Dispatcher tasks per running campaign (each claims and sends batches on its own).
CAMPAIGN_DISPATCHERS = env.int("CAMPAIGN_DISPATCHERS", default=2)
# A batch is about this many seconds of sending at the campaign's rate (1 to 100 numbers).
CAMPAIGN_BATCH_SECONDS = env.float("CAMPAIGN_BATCH_SECONDS", default=1.0)
# A dispatcher task sends for this long, then re-enqueues itself (so other tasks get a turn).
CAMPAIGN_DISPATCH_SLICE_SECONDS = env.float("CAMPAIGN_DISPATCH_SLICE_SECONDS", default=20.0)
# A batch still `sending` after this long lost its worker: outcome unknown, never resent.
# Keep it well above the Exotel request timeout (15 s).
CAMPAIGN_BATCH_LEASE_SECONDS = env.int("CAMPAIGN_BATCH_LEASE_SECONDS", default=120)
# A running campaign with no dispatcher activity for this long gets new dispatchers (beat).
CAMPAIGN_STALL_SECONDS = env.int("CAMPAIGN_STALL_SECONDS", default=60)
CAMPAIGN_TICK_SECONDS = env.float("CAMPAIGN_TICK_SECONDS", default=10.0)
CAMPAIGN_REPLY_WINDOW_HOURS = env.int("CAMPAIGN_REPLY_WINDOW_HOURS", default=48)
# Campaign messages whose send got no answer and no status callback for this long are marked
# for an operator's review (they are never resent automatically).
CAMPAIGN_UNKNOWN_REVIEW_HOURS = env.float("CAMPAIGN_UNKNOWN_REVIEW_HOURS", default=24.0)
CAMPAIGN_MAX_RECIPIENTS = env.int("CAMPAIGN_MAX_RECIPIENTS", default=1_000_000)
CAMPAIGN_API_MAX_RECIPIENTS = env.int("CAMPAIGN_API_MAX_RECIPIENTS", default=10_000)
# Preflight: the cost of a segment when no recent Exotel price is known (INR), and the rate
# assumed for the finish time of a campaign without one.
CAMPAIGN_PRICE_PER_SEGMENT = env.str("CAMPAIGN_PRICE_PER_SEGMENT", default="0.18")
CAMPAIGN_ASSUMED_RATE = env.float("CAMPAIGN_ASSUMED_RATE", default=50.0)
# The shared pacing clock: "" = Redis when the broker is redis://, else the database;
# "database" forces the database; or a redis:// URL of its own.
CAMPAIGN_RATE_LIMIT_URL = env.str("CAMPAIGN_RATE_LIMIT_URL", default="")
# Optional account-wide cap in SMS segments per second (a 2-part message counts 2), over every
# campaign batch and single send; needs Redis (CAMPAIGN_RATE_LIMIT_URL or a redis:// broker).
EXOTEL_MAX_SEND_RATE = env.float("EXOTEL_MAX_SEND_RATE", default=None)
# Campaign dispatchers run on their own queue, so a 100k campaign (each dispatcher holds a worker
# for CAMPAIGN_DISPATCH_SLICE_SECONDS) never stands between webhooks, status updates and single
# sends and a worker. A worker started without -Q consumes both queues (an upgrade that keeps
# its old worker command still sends campaigns); `make run` and the Procfile run `-Q celery`
# and a small `campaign-worker` with `-Q campaigns`.
CAMPAIGN_QUEUE = "campaigns"
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [
    Queue(name, Exchange(name), routing_key=name) for name in ("celery", CAMPAIGN_QUEUE)
]
CELERY_TASK_ROUTES = {"conversations.tasks.dispatch_campaign_task": {"queue": CAMPAIGN_QUEUE}}
CELERY_BEAT_SCHEDULE["campaign-tick"] = {
    "task": "conversations.tasks.campaign_tick_task",
    "schedule": CAMPAIGN_TICK_SECONDS,
}

# Insight (issue 8): dashboard, alerts, audit, retention, health, logs ---------------------------
# A message body older than this many days is masked by a beat task (0 or unset: kept forever);
# counts, statuses and segments stay, so the dashboard's numbers do not change.
MESSAGE_BODY_RETENTION_DAYS = env.int("MESSAGE_BODY_RETENTION_DAYS", default=0)
# /healthz is unhealthy when no worker has stamped its heartbeat for this long.
HEALTH_HEARTBEAT_MAX_AGE_SECONDS = env.int("HEALTH_HEARTBEAT_MAX_AGE_SECONDS", default=180)
# Alerts are e-mailed to active staff with an address, and to these (comma-separated).
ALERT_EMAIL_RECIPIENTS = env.list("ALERT_EMAIL_RECIPIENTS", default=[])
# E-mail: Django's console backend unless configured (e.g. the SMTP backend and EMAIL_HOST).
EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env.str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env.int("EMAIL_PORT", default=25)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env.bool("EMAIL_USE_TLS", default=False)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="SMS Desk <smsdesk@localhost>")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("conversations.dashboard.context.open_alerts")
CELERY_BEAT_SCHEDULE["evaluate-alerts"] = {
    "task": "conversations.tasks.evaluate_alerts_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["worker-heartbeat"] = {
    "task": "conversations.tasks.heartbeat_task",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["mask-old-message-bodies"] = {
    "task": "conversations.tasks.mask_old_message_bodies_task",
    "schedule": 3600.0,
}
# Logs: LOG_FORMAT=json for one JSON object per line; secrets (token=...) are always redacted,
# including request lines of Django's server and gunicorn's access log.
LOGGING["filters"] = {"redact": {"()": "smsdesk.log_redaction.RedactSecretsFilter"}}
LOGGING["handlers"]["console"]["filters"] = ["redact"]
LOGGING["loggers"] = {
    name: {"handlers": ["console"], "level": "INFO", "propagate": False}
    for name in ("django.server", "gunicorn.access", "gunicorn.error")
}
if env.str("LOG_FORMAT", default="plain") == "json":
    LOGGING["formatters"]["json"] = {
        "()": "smsdesk.log_redaction.RedactingJsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        "rename_fields": {"levelname": "level", "asctime": "time", "name": "logger"},
    }
    LOGGING["handlers"]["console"]["formatter"] = "json"

# The dashboard reads a per-day rollup; beat rebuilds today's every minute, and a page finding
# it older than this rebuilds it on the spot.
DASHBOARD_ROLLUP_MAX_AGE_SECONDS = env.int("DASHBOARD_ROLLUP_MAX_AGE_SECONDS", default=300)
CELERY_BEAT_SCHEDULE["refresh-dashboard-rollup"] = {
    "task": "conversations.tasks.refresh_dashboard_rollup_task",
    "schedule": 60.0,
}
