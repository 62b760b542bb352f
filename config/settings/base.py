"""Settings shared by every environment; values come from the environment (CONTRACT.md §7)."""

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
import structlog

from config import redis_options
from config.env import env_bool, env_float, env_int, env_list

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1")

INSTALLED_APPS = [
    "daphne",  # first, so that `runserver` is Daphne's and serves WebSockets too
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",  # refresh tokens: rotated, revocable
    "drf_spectacular",
    "axes",
    "realtime",
    "chat",
    "dashboard",
    "games",
]

MIDDLEWARE = [
    "realtime.middleware.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    # Async-capable (WhiteNoise's is sync-only, which would run every request, long polls
    # and event streams included, on Django's one sync thread for its whole duration).
    "servestatic.middleware.ServeStaticMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
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

# --- Database -------------------------------------------------------------------------------
# SQLite by default; DATABASE_URL for anything else (PostgreSQL in production).
# Consumers reach the ORM through database_sync_to_async, which runs on one shared thread per
# process, so a process holds one connection; CONN_MAX_AGE keeps it instead of reconnecting
# on every frame, and health checks drop it if the server went away.
DATABASES = {
    "default": dj_database_url.config(
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=env_int("DJANGO_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # IMMEDIATE takes the write lock at BEGIN, so two processes assigning a room's next seq
    # queue on the lock instead of failing to upgrade a read lock; WAL lets readers go on.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channel layer ---------------------------------------------------------------------------
# Redis for everything shared between processes: REDIS_URL, or REDIS_SENTINELS and
# REDIS_SENTINEL_MASTER (config/redis_options.py). Unset: one process, all in memory.
REDIS = redis_options.target_from_env()
REDIS_URL = REDIS.url
if REDIS:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [REDIS.channel_layer_host()],
                # Each process receives every room event on one channel (realtime.hub), so
                # the per-channel buffer must absorb a burst; seq lets sockets repair any loss.
                "capacity": 5000,
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# --- Auth ------------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out logins before the check
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# --- I18N / time -----------------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# --- Static files ----------------------------------------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [
    BASE_DIR / "static",
    # uPlot's stylesheet, as npm installed it (package-lock.json). The page scripts and the
    # libraries they import are bundled into static/dist by `npm run build` (build.mjs).
    ("vendor/uplot", BASE_DIR / "node_modules" / "uplot" / "dist"),
]
# Uploaded attachments (chat.attachments) live under MEDIA_ROOT by default; any storage backend
# (django-storages' S3, GCS, Azure...) by SWITCHBOARD_ATTACHMENT_STORAGE, its options then given
# by that backend's own settings (e.g. AWS_STORAGE_BUCKET_NAME). The app never serves MEDIA_URL:
# every download goes through chat.views.attachment_download, which checks room access.
MEDIA_ROOT = os.environ.get("SWITCHBOARD_MEDIA_ROOT", str(BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "attachments": {
        "BACKEND": os.environ.get(
            "SWITCHBOARD_ATTACHMENT_STORAGE", "django.core.files.storage.FileSystemStorage"
        )
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# ServeStatic serves static/ straight from the finders, so no collectstatic step is needed to
# run; production may still collect into STATIC_ROOT for a CDN or nginx.
SERVESTATIC_USE_FINDERS = True

# --- Input bounds ----------------------------------------------------------------------------
DATA_UPLOAD_MAX_MEMORY_SIZE = 256 * 1024
# Frames above this are refused by Daphne (1009) and, where the app sees one, closed with 4009.
SWITCHBOARD_MAX_FRAME_BYTES = 64 * 1024
# What the server may send in one frame (`python -m realtime.serve`; Daphne's own limit covers
# inbound frames only there). The app keeps its frames within 1 MiB, what clients such as
# Python's websockets take by default; this is the ceiling above that.
SWITCHBOARD_MAX_OUTGOING_FRAME_BYTES = env_int("SWITCHBOARD_MAX_OUTGOING_FRAME_BYTES", 4 << 20)
# Bytes a socket may have waiting to be sent; past it, the client reads too slowly and is
# closed with 4013 (resumable), and dropped if even the close cannot get out.
SWITCHBOARD_MAX_SEND_BUFFER_BYTES = env_int("SWITCHBOARD_MAX_SEND_BUFFER_BYTES", 4 << 20)
SWITCHBOARD_MAX_BODY_CHARS = 4000
# A room's notes, as the encoded Yjs state: an update that would take them over it is refused
# (the notes socket closes 4010); one that shrinks them is always taken.
SWITCHBOARD_MAX_NOTE_BYTES = env_int("SWITCHBOARD_MAX_NOTE_BYTES", 512 * 1024)
# Awareness (cursors, names) on the notes socket: one entry's state JSON at most, and how many
# client ids one socket may own (a y-websocket client has one).
SWITCHBOARD_NOTES_AWARENESS_BYTES = env_int("SWITCHBOARD_NOTES_AWARENESS_BYTES", 2048)
SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET = env_int("SWITCHBOARD_NOTES_AWARENESS_PER_SOCKET", 4)
SWITCHBOARD_RESUME_BATCH = 200
# Attachments (CONTRACT.md §9): an upload over this many bytes is refused with 413.
SWITCHBOARD_MAX_UPLOAD_BYTES = env_int("SWITCHBOARD_MAX_UPLOAD_BYTES", 10 << 20)
# Types an upload may have, as detected from its content (chat.attachments.detect_type).
SWITCHBOARD_UPLOAD_TYPES = env_list(
    "SWITCHBOARD_UPLOAD_TYPES",
    "image/png,image/jpeg,image/gif,image/webp,application/pdf,application/zip,text/plain,"
    "text/csv,text/markdown",
)
# Images above this many pixels are refused (decompression bombs); Pillow's own bound too.
SWITCHBOARD_MAX_IMAGE_PIXELS = env_int("SWITCHBOARD_MAX_IMAGE_PIXELS", 40_000_000)
SWITCHBOARD_THUMBNAIL_SIZE = 480  # the longer side of a thumbnail, in pixels
SWITCHBOARD_MAX_ATTACHMENTS_PER_MESSAGE = 10
# Uploads that no message used are removed after this long (manage.py attachments_cleanup).
SWITCHBOARD_ATTACHMENT_GRACE_SECONDS = env_int("SWITCHBOARD_ATTACHMENT_GRACE_SECONDS", 3600)
# A resume further behind than this gets a `reload` frame instead of a replay.
SWITCHBOARD_RESUME_MAX = env_int("SWITCHBOARD_RESUME_MAX", 5000)

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework_simplejwt.authentication.JWTAuthentication",
        "dashboard.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_THROTTLE_CLASSES": ["realtime.throttling.WriteRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # What each kind of credential may reach (a device key: ingestion only).
        "realtime.credentials.CredentialScopePermission",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's JSONParser reads request.stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check.
    "DEFAULT_PARSER_CLASSES": ["realtime.parsers.BoundedJSONParser"],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "EXCEPTION_HANDLER": "realtime.api.exception_handler",
}

# --- Logging ---------------------------------------------------------------------------------
# JSON lines (structlog) carrying the request id or socket id bound in contextvars; set
# SWITCHBOARD_LOG_FORMAT=console for readable development logs.
_log_renderer = (
    structlog.dev.ConsoleRenderer(colors=False)
    if os.environ.get("SWITCHBOARD_LOG_FORMAT", "json") == "console"
    else structlog.processors.JSONRenderer()
)
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "structured": {
            "()": structlog.stdlib.ProcessorFormatter,
            "processors": [
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _log_renderer,
            ],
            "foreign_pre_chain": [
                structlog.contextvars.merge_contextvars,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                structlog.processors.format_exc_info,
            ],
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "INFO")},
    "loggers": {
        "daphne": {"level": "INFO"},
        "django.channels.server": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# --- Metrics -----------------------------------------------------------------------------------
# /metrics answers the listed addresses, or anyone with `Authorization: Bearer <token>`.
SWITCHBOARD_METRICS_ALLOW = env_list("SWITCHBOARD_METRICS_ALLOW", "127.0.0.1,::1")
SWITCHBOARD_METRICS_TOKEN = os.environ.get("SWITCHBOARD_METRICS_TOKEN", "")

# --- WebSocket origins -----------------------------------------------------------------------
# Origins a cookie-authenticated socket may come from, as full origins ("https://chat.example").
# Empty: any origin whose host is in ALLOWED_HOSTS (as Channels' AllowedHostsOriginValidator).
SWITCHBOARD_ALLOWED_ORIGINS = env_list("SWITCHBOARD_ALLOWED_ORIGINS", "")

# --- Caches ------------------------------------------------------------------------------------
# Nothing shared lives in Django's cache (the rate limiter, presence and caps are in
# realtime.store), so each process keeps its own.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Tokens (scripts and mobile clients) ------------------------------------------------------
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("SWITCHBOARD_JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=1),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
    # A refresh token is good for one use; a replayed (stolen) one is refused. A password
    # change or deactivation blacklists all of the user's (realtime.sessions).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    # Tokens carry a hash of the password hash: an access token minted before a password
    # change stops working at once, on every transport (they all use JWTAuthentication).
    "CHECK_REVOKE_TOKEN": True,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Rooms, messages, devices and dashboards. See docs/protocol.md.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # Like every page but login, signup and /healthz (CONTRACT.md §1): a signed-in user.
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.IsAuthenticated",
        "realtime.credentials.CredentialScopePermission",
    ],
    # Several models have a `kind` with choices of their own: one schema name each.
    "ENUM_NAME_OVERRIDES": {
        "RoomKindEnum": "chat.models.Room.Kind",
        "PanelKindEnum": "dashboard.models.Panel.Kind",
        "AlertChannelKindEnum": "dashboard.models.AlertChannel.Kind",
        "ModerationActionKindEnum": "chat.models.ModerationAction.Kind",
    },
}

# --- Login lockout (django-axes) --------------------------------------------------------------
AXES_FAILURE_LIMIT = env_int("SWITCHBOARD_LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each on its own: per name, per address
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The client address is the one realtime.proxy resolved (REMOTE_ADDR), never a header as sent.
AXES_CLIENT_IP_CALLABLE = "realtime.proxy.client_address"

# --- Proxies -------------------------------------------------------------------------------------
# Addresses or networks (CIDR) of the proxies in front of the app. Only a request that arrives
# from one of them has its X-Forwarded-For and X-Forwarded-Proto believed (realtime.proxy).
SWITCHBOARD_TRUSTED_PROXIES = env_list("SWITCHBOARD_TRUSTED_PROXIES", "")

# --- Abuse limits ------------------------------------------------------------------------------
# `limits` syntax; several limits separated by ";" all apply (a burst cap and a sustained rate).
SWITCHBOARD_CHAT_SEND_RATE = os.environ.get("SWITCHBOARD_CHAT_SEND_RATE", "20/5second;100/minute")
SWITCHBOARD_SOCKET_FRAME_RATE = os.environ.get(
    "SWITCHBOARD_SOCKET_FRAME_RATE", "50/5second;400/minute"
)
# Notes sockets carry a Yjs update per keystroke and cursor moves: a higher frame budget.
SWITCHBOARD_NOTES_FRAME_RATE = os.environ.get(
    "SWITCHBOARD_NOTES_FRAME_RATE", "300/5second;2400/minute"
)
# Frames per game socket (turns mostly): a player steering hard turns a few times a second;
# a flood is refused (`rate_limited`), then the socket closed (4008).
SWITCHBOARD_GAME_FRAME_RATE = os.environ.get(
    "SWITCHBOARD_GAME_FRAME_RATE", "100/5second;1200/minute"
)
# The countdown before a game runs (the contract's 3 s; tests shorten it).
SWITCHBOARD_GAME_COUNTDOWN_SECONDS = env_float("SWITCHBOARD_GAME_COUNTDOWN_SECONDS", 3.0)
# Refusals a socket may collect within a minute before it is closed with 4008.
SWITCHBOARD_ABUSE_STRIKES = env_int("SWITCHBOARD_ABUSE_STRIKES", 10)
# Ingest requests per device: one budget shared by REST batches and socket frames.
SWITCHBOARD_DEVICE_INGEST_RATE = os.environ.get("SWITCHBOARD_DEVICE_INGEST_RATE", "50/second")
SWITCHBOARD_REST_WRITE_RATE = os.environ.get("SWITCHBOARD_REST_WRITE_RATE", "120/min")
SWITCHBOARD_UPLOAD_RATE = os.environ.get("SWITCHBOARD_UPLOAD_RATE", "20/10second;120/minute")
# Searches per user: the page searches as one types (debounced), so a burst is allowed.
SWITCHBOARD_SEARCH_RATE = os.environ.get("SWITCHBOARD_SEARCH_RATE", "20/10second;200/minute")
SWITCHBOARD_MAX_SOCKETS_PER_USER = env_int("SWITCHBOARD_MAX_SOCKETS_PER_USER", 20)
SWITCHBOARD_MAX_SOCKETS_PER_IP = env_int("SWITCHBOARD_MAX_SOCKETS_PER_IP", 1000)
# Socket handshakes a process works on at once (realtime/admission.py); more wait their turn, so
# that a reconnect storm does not queue ahead of the messages of sockets already open. 0: no bound.
SWITCHBOARD_HANDSHAKES_AT_ONCE = env_int("SWITCHBOARD_HANDSHAKES_AT_ONCE", 16)
# Sockets and presence entries expire unless their process refreshes them; a killed process's
# entries are gone after this many seconds.
SWITCHBOARD_SOCKET_TTL = env_int("SWITCHBOARD_SOCKET_TTL", 45)
# A room's online set is announced at once, then at most once per this many seconds per
# process while people keep arriving or leaving (the last announcement has the final set).
SWITCHBOARD_PRESENCE_INTERVAL = env_float("SWITCHBOARD_PRESENCE_INTERVAL", 1.0)
# Readings of one device reach a process's dashboard sockets at most once per this many seconds
# (the first at once; later ones conflated: realtime/conflate.py). 0 turns conflation off.
SWITCHBOARD_READINGS_WINDOW = env_float("SWITCHBOARD_READINGS_WINDOW", 0.1)

# --- Tasks of the server process -----------------------------------------------------------------
# Coroutine functions (dotted paths) that `python -m realtime.serve` runs as tasks of its event
# loop. `make run` sets SWITCHBOARD_DEMO_SOURCES=1: the demo's server sampler and device
# simulator then run inside the server, whose sockets the in-memory layer alone can reach.
# SWITCHBOARD_MQTT_BRIDGE_IN_SERVER and SWITCHBOARD_ALERT_WORKER_IN_SERVER do the same for the
# MQTT bridge and the alert-delivery worker (`manage.py mqtt_bridge` and `alert_worker` run them
# as processes of their own beside a Redis layer). Every process removes unused uploads.
SWITCHBOARD_SERVER_TASKS = ["chat.attachments.run_cleanup"] + [
    path
    for path, wanted in (
        ("dashboard.demo.run_sources", env_bool("SWITCHBOARD_DEMO_SOURCES", False)),
        ("dashboard.simulators.run_sources", env_bool("SWITCHBOARD_DEMO_SOURCES", False)),
        ("dashboard.bridge.run_bridge", env_bool("SWITCHBOARD_MQTT_BRIDGE_IN_SERVER", False)),
        ("dashboard.delivery.run_worker", env_bool("SWITCHBOARD_ALERT_WORKER_IN_SERVER", False)),
    )
    if wanted
]
# How often each server process removes unused uploads (0: never; then run
# `manage.py attachments_cleanup` from cron).
SWITCHBOARD_ATTACHMENT_CLEANUP_INTERVAL = env_int("SWITCHBOARD_ATTACHMENT_CLEANUP_INTERVAL", 900)

# --- MQTT (CONTRACT.md §11) ---------------------------------------------------------------------
# The broker devices publish to (mqtt://host:port); empty: no MQTT, and no broker administration.
SWITCHBOARD_MQTT_URL = os.environ.get("SWITCHBOARD_MQTT_URL", "")
# The broker's dynamic-security admin: provisions device clients and runs the bridge.
SWITCHBOARD_MQTT_ADMIN_USER = os.environ.get("SWITCHBOARD_MQTT_ADMIN_USER", "switchboard")
SWITCHBOARD_MQTT_ADMIN_PASSWORD = os.environ.get("SWITCHBOARD_MQTT_ADMIN_PASSWORD", "")
# The bridge's fixed client id: its persistent session (and queued QoS 1 readings) hangs on it.
SWITCHBOARD_MQTT_BRIDGE_ID = os.environ.get("SWITCHBOARD_MQTT_BRIDGE_ID", "switchboard-bridge")
SWITCHBOARD_MQTT_MAX_PAYLOAD = env_int("SWITCHBOARD_MQTT_MAX_PAYLOAD", 256 * 1024)

# --- Alert channels ------------------------------------------------------------------------------
# Webhook deliveries are retried with exponential backoff (base * 2^attempt, with jitter) for
# up to SWITCHBOARD_ALERT_RETRY_SECONDS, then marked failed.
SWITCHBOARD_ALERT_BACKOFF_SECONDS = env_float("SWITCHBOARD_ALERT_BACKOFF_SECONDS", 5.0)
SWITCHBOARD_ALERT_RETRY_SECONDS = env_int("SWITCHBOARD_ALERT_RETRY_SECONDS", 600)
SWITCHBOARD_ALERT_TIMEOUT_SECONDS = env_float("SWITCHBOARD_ALERT_TIMEOUT_SECONDS", 10.0)
SWITCHBOARD_ALERT_POLL_SECONDS = env_float("SWITCHBOARD_ALERT_POLL_SECONDS", 1.0)
# Webhooks to loopback and private addresses are refused (SSRF) unless this is on (dev, tests).
SWITCHBOARD_ALERT_ALLOW_PRIVATE = env_bool("SWITCHBOARD_ALERT_ALLOW_PRIVATE", False)
# Alert e-mails go through Django's e-mail backend (SMTP unless EMAIL_BACKEND says otherwise).
EMAIL_BACKEND = os.environ.get(
    "DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend"
)
DEFAULT_FROM_EMAIL = os.environ.get("DJANGO_DEFAULT_FROM_EMAIL", "switchboard@localhost")
EMAIL_HOST = os.environ.get("DJANGO_EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("DJANGO_EMAIL_PORT", 25)
EMAIL_HOST_USER = os.environ.get("DJANGO_EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("DJANGO_EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("DJANGO_EMAIL_USE_TLS", False)
