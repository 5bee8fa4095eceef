"""Django settings, read from the environment with safe production defaults."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CODEQ_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = os.environ.get("DEBUG", "") == "1"
SECRET_KEY = os.environ.get("SECRET_KEY", "insecure-dev-key-change-me-before-any-deployment" if DEBUG else "")
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "tenants",
    "codeq_platform.webhooks",
    "codeq_platform.scheduler",
    "dashboard",
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

ROOT_URLCONF = "codeq_platform.urls"
CSRF_FAILURE_VIEW = "codeq_platform.pages.csrf_failure"
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
ASGI_APPLICATION = "codeq_platform.asgi.application"

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
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'codeq.sqlite3'}", conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory, so a server started by a test in another process sees the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-codeq.sqlite3")}
    # The web server, the scheduler and their threads write concurrently: a transaction that first
    # reads and then writes cannot wait for another writer in SQLite's default (deferred) mode and
    # fails at once with "database is locked"; IMMEDIATE takes the write lock up front and waits.
    DATABASES["default"]["OPTIONS"] = {"transaction_mode": "IMMEDIATE", "timeout": 20}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("CODEQ_STATIC_ROOT") or VAR_DIR / "static")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Without collectstatic (make run, tests) WhiteNoise serves straight from the apps' static folders.
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

CODEQ_KV_URL = os.environ.get("CODEQ_KV_URL", "")
if not CODEQ_KV_URL:
    from codeq_platform.base.embedded_kv import shared_url

    CODEQ_KV_URL = shared_url(VAR_DIR)

# The control plane's cache (token grants, last-used throttles) lives in the KV store under its own prefix.
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CODEQ_KV_URL,
        "KEY_PREFIX": os.environ.get("CODEQ_CACHE_PREFIX", "codeq:cache"),
        "TIMEOUT": 300,
        "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
    }
}

# Bearer tokens: HS256 JWTs bound to an ApiToken row. A cached grant lives at most this many seconds, so a
# change made behind the services' back (admin edit, tenant switched off) takes effect within it.
CODEQ_JWT_SECRET = os.environ.get("CODEQ_JWT_SECRET", SECRET_KEY)
# Fernet keys sealing webhook secrets at rest, first one seals (tenants/sealing.py)
CODEQ_SEALING_KEYS = os.environ.get("CODEQ_SEALING_KEYS", "")
CODEQ_JWT_ISSUER = os.environ.get("CODEQ_JWT_ISSUER", "codeq-platform")
CODEQ_TOKEN_CACHE_SECONDS = int(os.environ.get("CODEQ_TOKEN_CACHE_SECONDS", "5"))
# How often each web process sends its tenants' request counts to the store (usage, staff console).
CODEQ_USAGE_FLUSH_SECONDS = float(os.environ.get("CODEQ_USAGE_FLUSH_SECONDS", "1"))

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["codeq_platform.api.auth.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["codeq_platform.api.auth.CanRead"],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "codeq_platform.api.errors.drf_handler",
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "codeq_platform.api.parsers.AnyContentTypeJSONParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "codeQ Platform API",
    "DESCRIPTION": "codeQ's HTTP contract: enqueue, claim with leases, results, DLQ. Bearer tokens per tenant.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": "/v1/codeq",
    "ENUM_NAME_OVERRIDES": {"TaskStatus": ["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"]},
    # Bodies are JSON whatever their Content-Type (the contract's §1): the schema lists JSON only.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "codeq_platform.api.docs.path_patterns"],
}

# Mail (invitations, sign-up confirmations): SMTP unless EMAIL_BACKEND says otherwise; `make run` prints
# messages to its log (the console backend), the browser tests write them to files (EMAIL_FILE_PATH).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_FILE_PATH = os.environ.get("EMAIL_FILE_PATH", str(VAR_DIR / "mail"))
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "").lower() in ("1", "true", "yes")
EMAIL_TIMEOUT = 10
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "codeQ <noreply@localhost>")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Members: an invitation link works once, for this many days.
CODEQ_INVITATION_DAYS = int(os.environ.get("CODEQ_INVITATION_DAYS", "7"))
# Self-service sign-up: "open" lets visitors create an account and a tenant; anything else answers 404.
# Sign-up forms accepted per client address and hour; how long a confirmation link works.
CODEQ_SIGNUP = os.environ.get("CODEQ_SIGNUP", "closed").strip().lower()
CODEQ_SIGNUP_PER_HOUR = int(os.environ.get("CODEQ_SIGNUP_PER_HOUR", "5"))
CODEQ_SIGNUP_LINK_HOURS = int(os.environ.get("CODEQ_SIGNUP_LINK_HOURS", "24"))

# The queue engine.
CODEQ_KV_PREFIX = os.environ.get("CODEQ_KV_PREFIX", "cq")
CODEQ_MAX_PAYLOAD_BYTES = int(os.environ.get("CODEQ_MAX_PAYLOAD_BYTES", str(1024 * 1024)))
CODEQ_BACKOFF_BASE_SECONDS = int(os.environ.get("CODEQ_BACKOFF_BASE_SECONDS", "5"))
CODEQ_BACKOFF_CAP_SECONDS = int(os.environ.get("CODEQ_BACKOFF_CAP_SECONDS", "900"))
# Request bodies are read into memory only up to this hard cap; tenants' own limits are lower.
CODEQ_MAX_BODY_BYTES = int(os.environ.get("CODEQ_MAX_BODY_BYTES", str(8 * 1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = CODEQ_MAX_BODY_BYTES

# Outbound webhooks. Private, loopback and link-local targets are refused unless this is on (tests and
# `make run` turn it on; production leaves it off). The timeout bounds one whole delivery attempt.
CODEQ_WEBHOOK_ALLOW_PRIVATE = os.environ.get("CODEQ_WEBHOOK_ALLOW_PRIVATE", "").lower() in ("1", "true", "yes")
CODEQ_WEBHOOK_TIMEOUT_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_TIMEOUT_SECONDS", "10"))
# Retries: result callbacks as reference §7 (5 attempts, 2·2^(n-1) s up to 60 s); subscription events
# with exponential backoff and jitter. A subscription whose last N event deliveries all went dead is
# paused. Delivery records are kept this many days. The dispatcher sends this many at once.
CODEQ_WEBHOOK_CALLBACK_ATTEMPTS = int(os.environ.get("CODEQ_WEBHOOK_CALLBACK_ATTEMPTS", "5"))
CODEQ_WEBHOOK_CALLBACK_BASE_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_CALLBACK_BASE_SECONDS", "2"))
CODEQ_WEBHOOK_CALLBACK_CAP_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_CALLBACK_CAP_SECONDS", "60"))
CODEQ_WEBHOOK_EVENT_ATTEMPTS = int(os.environ.get("CODEQ_WEBHOOK_EVENT_ATTEMPTS", "8"))
CODEQ_WEBHOOK_EVENT_BASE_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_EVENT_BASE_SECONDS", "5"))
CODEQ_WEBHOOK_EVENT_CAP_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_EVENT_CAP_SECONDS", "900"))
CODEQ_WEBHOOK_PAUSE_AFTER_DEAD = int(os.environ.get("CODEQ_WEBHOOK_PAUSE_AFTER_DEAD", "5"))
CODEQ_WEBHOOK_RETENTION_DAYS = int(os.environ.get("CODEQ_WEBHOOK_RETENTION_DAYS", "7"))
CODEQ_WEBHOOK_CONCURRENCY = int(os.environ.get("CODEQ_WEBHOOK_CONCURRENCY", "50"))
# On SIGTERM the scheduler lets in-flight deliveries finish this long, then gives the rest back.
CODEQ_WEBHOOK_STOP_GRACE_SECONDS = float(os.environ.get("CODEQ_WEBHOOK_STOP_GRACE_SECONDS", "10"))

# The dashboard's live stats: the scheduler publishes snapshots, every web process's websocket consumers
# relay them. Pub/sub only (no lists or sorted sets), so KVRocks and the embedded server serve it too; on
# a cluster a PUBLISH reaches every node, so one node's address is enough.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [CODEQ_KV_URL.replace("redis+cluster://", "redis://", 1)],
            "prefix": f"{CODEQ_KV_PREFIX}:ws",
        },
    }
}
