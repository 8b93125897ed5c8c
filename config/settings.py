"""Settings, read from the environment (12-factor).

Service URLs: DATABASE_URL, REDIS_URL, TEMPORAL_ADDRESS. Where DATABASE_URL or REDIS_URL is unset,
the embedded servers under HANDRAIL_HOME (default ./.handrail) are used, started on first need, so
`manage.py createsuperuser` works on a fresh checkout. `manage.py up` starts all three and passes
their URLs to its children.
"""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


HANDRAIL_HOME = Path(os.environ.get("HANDRAIL_HOME", BASE_DIR / ".handrail")).resolve()

DEBUG = _env_bool("DEBUG", False)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and os.environ.get("HANDRAIL_REQUIRE_SECRET_KEY"):
        raise RuntimeError("SECRET_KEY must be set when HANDRAIL_REQUIRE_SECRET_KEY is set")
    # Local development only: production deployments set SECRET_KEY (see README).
    SECRET_KEY = "handrail-insecure-development-key-change-me"
ALLOWED_HOSTS = _env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")
CSRF_TRUSTED_ORIGINS = _env_list("CSRF_TRUSTED_ORIGINS", "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "orchestrator",
    "review_ui",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "orchestrator.audit.signals.AuditAccessMiddleware",  # request ids on audit events; audits 403s and sign-ins
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return url
    from config import embedded

    url = embedded.ensure_postgres(HANDRAIL_HOME)
    os.environ["DATABASE_URL"] = url  # children and later imports reuse the same server
    return url


DATABASES = {
    "default": dj_database_url.parse(_database_url(), conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")))
}
DATABASES["default"].setdefault("OPTIONS", {})
# Prepared statements: only statements that ask for one (`prepare=True`: the audit append, the claim) are
# prepared, once per connection; psycopg's automatic preparation stays out of reach (a threshold no
# query meets). Django's default (None) would silently ignore `prepare=True` too. Set
# DB_PREPARED_STATEMENTS=0 behind a transaction-mode pooler that cannot keep them (PgBouncer < 1.21).
DATABASES["default"]["OPTIONS"].setdefault(
    "prepare_threshold", 2**31 - 1 if os.environ.get("DB_PREPARED_STATEMENTS", "1") != "0" else None
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
# Only `collectstatic` writes here; WhiteNoise serves straight from the app folders (below), so it is
# unset unless asked for (an unset root also spares every process a "No directory" warning).
STATIC_ROOT = os.environ.get("STATIC_ROOT") or None
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from app folders without a collectstatic step

LOGIN_URL = "review_ui:login"
LOGIN_REDIRECT_URL = "review_ui:inbox"
LOGOUT_REDIRECT_URL = "review_ui:login"

# --- Redis / Celery -------------------------------------------------------------------------------


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL")
    if url:
        return url
    from config import embedded

    url = embedded.redis_url(HANDRAIL_HOME)
    return url


REDIS_URL = _redis_url()
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A producer must not hang a request when Redis is away: the outbox sweeper covers the gap.
CELERY_BROKER_TRANSPORT_OPTIONS = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_TASK_ALWAYS_EAGER = _env_bool("CELERY_TASK_ALWAYS_EAGER", False)
HANDRAIL_OUTBOX_SWEEP_SECONDS = float(os.environ.get("HANDRAIL_OUTBOX_SWEEP_SECONDS", "5"))
HANDRAIL_LEASE_SWEEP_SECONDS = float(os.environ.get("HANDRAIL_LEASE_SWEEP_SECONDS", "15"))
HANDRAIL_AUDIT_CHECKPOINT_SECONDS = float(os.environ.get("HANDRAIL_AUDIT_CHECKPOINT_SECONDS", "300"))
CELERY_BEAT_SCHEDULE = {
    "outbox-sweep": {
        "task": "orchestrator.outbox_sweep",
        "schedule": timedelta(seconds=HANDRAIL_OUTBOX_SWEEP_SECONDS),
    },
    "notification-sweep": {
        "task": "orchestrator.notification_sweep",
        "schedule": timedelta(seconds=HANDRAIL_OUTBOX_SWEEP_SECONDS),
    },
    "degradation-evaluate": {
        "task": "orchestrator.degradation_evaluate",
        "schedule": timedelta(seconds=float(os.environ.get("HANDRAIL_MODE_EVALUATE_SECONDS", "5"))),
    },
    "task-lease-sweep": {
        "task": "orchestrator.task_expire_leases",
        "schedule": timedelta(seconds=HANDRAIL_LEASE_SWEEP_SECONDS),
    },
    "audit-checkpoint": {
        "task": "orchestrator.audit_checkpoint",
        "schedule": timedelta(seconds=HANDRAIL_AUDIT_CHECKPOINT_SECONDS),
    },
}
CELERY_BEAT_SCHEDULE_FILENAME = str(HANDRAIL_HOME / "celerybeat-schedule")

# --- Temporal -------------------------------------------------------------------------------------

TEMPORAL_ADDRESS = os.environ.get("TEMPORAL_ADDRESS", "127.0.0.1:7233")
TEMPORAL_NAMESPACE = os.environ.get("TEMPORAL_NAMESPACE", "default")
TEMPORAL_TASK_QUEUE = os.environ.get("TEMPORAL_TASK_QUEUE", "handrail-decisions")
# A Temporal cluster with mutual TLS (file paths) or Temporal Cloud with an API key.
TEMPORAL_TLS_CERT = os.environ.get("TEMPORAL_TLS_CERT", "")
TEMPORAL_TLS_KEY = os.environ.get("TEMPORAL_TLS_KEY", "")
TEMPORAL_TLS_CA = os.environ.get("TEMPORAL_TLS_CA", "")
TEMPORAL_API_KEY = os.environ.get("TEMPORAL_API_KEY", "")
TEMPORAL_UI_URL = os.environ.get("TEMPORAL_UI_URL", "http://127.0.0.1:8233")
TEMPORAL_RPC_TIMEOUT_SECONDS = float(os.environ.get("TEMPORAL_RPC_TIMEOUT_SECONDS", "5"))
TEMPORAL_ACTIVITY_THREADS = int(os.environ.get("TEMPORAL_ACTIVITY_THREADS", "8"))

# --- Handrail -------------------------------------------------------------------------------------

HANDRAIL_FLOWS = _env_list(
    "HANDRAIL_FLOWS",
    "workflows.examples.loan_approval.FLOW,workflows.examples.content_moderation.FLOW,"
    "workflows.examples.payment_fraud.FLOW,workflows.examples.kyc_onboarding.FLOW,"
    "workflows.examples.tutorial.FLOW",
)
# Extra Temporal workflow classes for the worker (dotted paths), beyond those the flows name.
HANDRAIL_WORKFLOWS = _env_list("HANDRAIL_WORKFLOWS", "")
HANDRAIL_MAX_PAYLOAD_BYTES = int(os.environ.get("HANDRAIL_MAX_PAYLOAD_BYTES", str(256 * 1024)))
HANDRAIL_CLAIM_LEASE_SECONDS = int(os.environ.get("HANDRAIL_CLAIM_LEASE_SECONDS", str(15 * 60)))
# Deliver right after commit on the request thread (True) or on a small relay pool (False, default).
HANDRAIL_OUTBOX_DELIVER_INLINE = _env_bool("HANDRAIL_OUTBOX_DELIVER_INLINE", False)
HANDRAIL_OUTBOX_RELAY_THREADS = int(os.environ.get("HANDRAIL_OUTBOX_RELAY_THREADS", "4"))
HANDRAIL_OUTBOX_MAX_BACKOFF_SECONDS = float(os.environ.get("HANDRAIL_OUTBOX_MAX_BACKOFF_SECONDS", "300"))
HANDRAIL_NOTIFICATION_MAX_ATTEMPTS = int(os.environ.get("HANDRAIL_NOTIFICATION_MAX_ATTEMPTS", "8"))
HANDRAIL_NOTIFICATION_BACKOFF_SECONDS = float(os.environ.get("HANDRAIL_NOTIFICATION_BACKOFF_SECONDS", "2"))
HANDRAIL_NOTIFICATION_MAX_BACKOFF_SECONDS = float(os.environ.get("HANDRAIL_NOTIFICATION_MAX_BACKOFF_SECONDS", "3600"))
HANDRAIL_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("HANDRAIL_WEBHOOK_TIMEOUT_SECONDS", "10"))
# Outcome callbacks are signed with this secret (per flow: HANDRAIL_CALLBACK_SECRET_<FLOW>); dev default only.
HANDRAIL_CALLBACK_SECRET = os.environ.get("HANDRAIL_CALLBACK_SECRET", "handrail-dev-callback-secret")
# Capacity: reviewers who gave a verdict in this window count as active; handle time from the last N reviews.
HANDRAIL_ACTIVE_REVIEWER_MINUTES = float(os.environ.get("HANDRAIL_ACTIVE_REVIEWER_MINUTES", "15"))
HANDRAIL_HANDLE_TIME_SAMPLE = int(os.environ.get("HANDRAIL_HANDLE_TIME_SAMPLE", "200"))
HANDRAIL_DEFAULT_HANDLE_SECONDS = float(os.environ.get("HANDRAIL_DEFAULT_HANDLE_SECONDS", "300"))
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "handrail@localhost")
HANDRAIL_AUDIT_PARTITIONS = int(os.environ.get("HANDRAIL_AUDIT_PARTITIONS", "16"))
# Audit checkpoints are signed with this Ed25519 private key (base64 of the 32 raw bytes). Unset: a
# development key is generated under HANDRAIL_HOME/keys/ on first use (a warning says so).
HANDRAIL_AUDIT_SIGNING_KEY = os.environ.get("HANDRAIL_AUDIT_SIGNING_KEY", "")
HANDRAIL_AUDIT_KEY_DIR = Path(os.environ.get("HANDRAIL_AUDIT_KEY_DIR", HANDRAIL_HOME / "keys"))
# Signed checkpoints are also written here (outside the database); point it at another volume or a mount.
HANDRAIL_AUDIT_CHECKPOINT_DIR = Path(os.environ.get("HANDRAIL_AUDIT_CHECKPOINT_DIR", HANDRAIL_HOME / "checkpoints"))
HANDRAIL_AUDIT_EXPORT_DIR = Path(os.environ.get("HANDRAIL_AUDIT_EXPORT_DIR", HANDRAIL_HOME / "exports"))
HANDRAIL_AUDIT_EXPORT_TTL_SECONDS = int(os.environ.get("HANDRAIL_AUDIT_EXPORT_TTL_SECONDS", str(24 * 3600)))
HANDRAIL_AUDIT_DOWNLOAD_LINK_SECONDS = int(os.environ.get("HANDRAIL_AUDIT_DOWNLOAD_LINK_SECONDS", "600"))
# Retention class of the audit trail; purges never touch events younger than this (at least 184 days).
HANDRAIL_AUDIT_RETENTION_DAYS = max(184, int(os.environ.get("HANDRAIL_AUDIT_RETENTION_DAYS", "2557")))

# --- API ------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orchestrator.api.errors.exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Handrail API",
    "DESCRIPTION": "Submit model decisions, work review queues, read the audit trail.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI and Redoc served from our own static files (no CDN).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"temporalio": {"level": "WARNING"}},
}
