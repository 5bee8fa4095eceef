"""Django settings, read from the environment with safe production defaults."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from codeq_platform.base.embedded_kv import url_for
from codeq_platform.engine import store as _store

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("CODEQ_VAR_DIR") or BASE_DIR / "var")
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _flag(name: str, *, default: bool = False) -> bool:
    """An on/off setting from the environment: 1, true, yes or on; anything else set is off."""
    value = os.environ.get(name)
    return default if value is None else value.strip().lower() in ("1", "true", "yes", "on")


DEBUG = os.environ.get("DEBUG", "") == "1"
# `make run` keeps the key it generated in the var folder, so every command run beside it, in any shell,
# signs and checks with the same key; anywhere else SECRET_KEY is required (DEBUG alone has a fixed one).
_MADE_BY_RUN = VAR_DIR / "secret-key"
SECRET_KEY = (
    os.environ.get("SECRET_KEY")
    or (_MADE_BY_RUN.read_text().strip() if _MADE_BY_RUN.exists() else "")
    or ("insecure-dev-key-change-me-before-any-deployment" if DEBUG else "")
)
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "localhost,127.0.0.1").split(",") if h]

INSTALLED_APPS = [
    "dashboard.apps.ConsoleAdminConfig",  # Django's admin, signing in through the console
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
    "csp",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "tenants",
    "codeq_platform.webhooks",
    "codeq_platform.scheduler",
    "dashboard",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "dashboard.middleware.SignInMiddleware",
    "dashboard.middleware.SecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

# HTTPS. Outside DEBUG the session and CSRF cookies are Secure (sent over https only), unless the operator
# runs without TLS on purpose (CODEQ_ALLOW_HTTP=1, e.g. a local http setup without DEBUG). HSTS and the
# redirect to https are off until switched on; behind a TLS-terminating proxy, CODEQ_PROXY_SSL_HEADER names
# the header the proxy sets to "https" (e.g. X-Forwarded-Proto), and only such a proxy may set it.
CODEQ_ALLOW_HTTP = _flag("CODEQ_ALLOW_HTTP")
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = not DEBUG and not CODEQ_ALLOW_HTTP
SECURE_SSL_REDIRECT = _flag("CODEQ_SSL_REDIRECT")
# Probes reach the health and metrics endpoints over plain http inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("CODEQ_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = _flag("CODEQ_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = _flag("CODEQ_HSTS_PRELOAD")
if not SECURE_HSTS_PRELOAD:
    # Preloading is a listing the owner of the parent domain applies for, not a setting to be warned about.
    SILENCED_SYSTEM_CHECKS = ["security.W021"]
if os.environ.get("CODEQ_PROXY_SSL_HEADER"):
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + os.environ["CODEQ_PROXY_SSL_HEADER"].upper().replace("-", "_"), "https")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]
X_FRAME_OPTIONS = "DENY"
# A console session ends after this long without a request (requests start the time again, at most once a
# minute, so that a page view does not cost a session write: dashboard/middleware.py).
SESSION_COOKIE_AGE = int(float(os.environ.get("CODEQ_SESSION_IDLE_MINUTES", "60")) * 60)

# Content-Security-Policy of every page (django-csp): scripts and styles from this origin, or inline with
# the page's nonce (``{{ request.csp_nonce }}``); no other origin; no framing. Browsers report any
# violation in their console, which the browser tests fail on.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [NONE],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # The API docs (Swagger UI) draw their icons as data: SVG images; an image cannot run code.
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],  # the live overview's websocket: 'self' covers ws:/wss: of this host
        "manifest-src": [SELF],
        "form-action": [SELF],
        "base-uri": [NONE],
        "object-src": [NONE],
        "frame-ancestors": [NONE],
    }
}

ROOT_URLCONF = "codeq_platform.urls"
CSRF_FAILURE_VIEW = "codeq_platform.pages.csrf_failure"
LOGIN_URL = "dashboard:login"
LOGIN_REDIRECT_URL = "dashboard:home"
LOGOUT_REDIRECT_URL = "dashboard:login"
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
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

# Unset: the store `make run` uses, as it recorded it in the var folder (the embedded server by default).
# Loading the settings never starts a server: that is `make run`'s job, and the test fixtures'.
_RUN_KV_URL = VAR_DIR / "kv-url"
CODEQ_KV_URL = (
    os.environ.get("CODEQ_KV_URL")
    or (_RUN_KV_URL.read_text().strip() if _RUN_KV_URL.exists() else "")
    or url_for(VAR_DIR / "kv")
)
# TLS for a rediss:// store: the CA bundle that verifies the server (empty: the system's), and the
# client certificate and key for a server that asks for one. Every client of the store uses them.
CODEQ_KV_TLS_CA_FILE = os.environ.get("CODEQ_KV_TLS_CA_FILE", "")
CODEQ_KV_TLS_CERT_FILE = os.environ.get("CODEQ_KV_TLS_CERT_FILE", "")
CODEQ_KV_TLS_KEY_FILE = os.environ.get("CODEQ_KV_TLS_KEY_FILE", "")

# The control plane's cache (token grants, last-used throttles) lives in the KV store under its own prefix,
# reached through the same clients as the engine (RESP2, TLS, cluster).
CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": CODEQ_KV_URL,
        "KEY_PREFIX": os.environ.get("CODEQ_CACHE_PREFIX", "codeq:cache"),
        "TIMEOUT": 300,
        "OPTIONS": {
            "CONNECTION_FACTORY": "codeq_platform.base.kvcache.StoreConnectionFactory",
            "SOCKET_CONNECT_TIMEOUT": 2,
            "SOCKET_TIMEOUT": 2,
        },
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

# The API's endpoints authenticate, limit and parse in their own frame (codeq_platform/api/endpoint.py);
# DRF serves the schema generation (drf-spectacular) and the serializers of the self-service rows.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
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
    "ENUM_NAME_OVERRIDES": {
        "TaskStatus": ["PENDING", "IN_PROGRESS", "COMPLETED", "FAILED"],
        "ResultStatus": ["COMPLETED", "FAILED"],
        "TokenRole": ["producer", "worker", "admin"],
        "TokenRowRole": "tenants.models.ApiToken.Role",
    },
    # Bodies are JSON whatever their Content-Type (the contract's §1): the schema lists JSON only.
    "PARSER_WHITELIST": ["rest_framework.parsers.JSONParser"],
    # Every operation takes a bearer token.
    "SECURITY": [{"bearer": []}],
    "APPEND_COMPONENTS": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "codeq_platform.api.schema.finish"],
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
# relay them. Pub/sub only (no lists or sorted sets), so KVRocks and the embedded server serve it too. On a
# cluster, publisher and subscribers all meet on the node the URL names: a KVRocks cluster does not pass a
# PUBLISH to its other nodes, so the layer must never depend on that.
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {
            "hosts": [
                {
                    "address": _store.node_url(CODEQ_KV_URL),
                    **_store.options(
                        CODEQ_KV_URL, _store.TLS(CODEQ_KV_TLS_CA_FILE, CODEQ_KV_TLS_CERT_FILE, CODEQ_KV_TLS_KEY_FILE)
                    ),
                }
            ],
            "prefix": f"{CODEQ_KV_PREFIX}:ws",
        },
    }
}

# Sign-in throttling (django-axes, counted in the database so every web process sees the same failures).
# A username or an address that failed CODEQ_LOGIN_SLOWDOWN_AFTER times in a row must wait before its next
# try, 1 s doubling per failure up to a minute; at CODEQ_LOGIN_FAILURE_LIMIT failures it is locked out for
# CODEQ_LOGIN_LOCKOUT_MINUTES, the right password included, unless staff unlock it sooner.
CODEQ_LOGIN_SLOWDOWN_AFTER = int(os.environ.get("CODEQ_LOGIN_SLOWDOWN_AFTER", "3"))
CODEQ_LOGIN_SLOWDOWN_CAP_SECONDS = int(os.environ.get("CODEQ_LOGIN_SLOWDOWN_CAP_SECONDS", "60"))
AXES_FAILURE_LIMIT = int(os.environ.get("CODEQ_LOGIN_FAILURE_LIMIT", "10"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("CODEQ_LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_HANDLER = "axes.handlers.database.AxesDatabaseHandler"
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False  # a lockout ends on time, however often it is retried
AXES_DISABLE_ACCESS_LOG = True  # sign-ins go to the platform's own access log (tenants.AccessEvent)
AXES_LOCKOUT_CALLABLE = "dashboard.signin.locked_out"
AXES_SENSITIVE_PARAMETERS = ["password", "otp_token", "csrfmiddlewaretoken"]
# The client's address is the one the ASGI server reports: behind a proxy, let the server take it from the
# proxy's X-Forwarded-For (uvicorn --proxy-headers --forwarded-allow-ips=PROXY); a header is never read here.
AXES_IPWARE_META_PRECEDENCE_ORDER = ["REMOTE_ADDR"]

# A second factor (django-otp: an authenticator app, recovery codes): "staff" requires one of staff
# accounts, "all" of everyone; anyone else may set one up on their account page.
CODEQ_REQUIRE_2FA = os.environ.get("CODEQ_REQUIRE_2FA", "").strip().lower()
if CODEQ_REQUIRE_2FA not in ("", "staff", "all"):
    raise ImproperlyConfigured("CODEQ_REQUIRE_2FA is staff, all, or empty.")
OTP_TOTP_ISSUER = os.environ.get("CODEQ_2FA_ISSUER", "codeQ")
