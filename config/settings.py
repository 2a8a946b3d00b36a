"""Settings, driven by environment variables.

With no variables set, Switchboard runs embedded: SQLite, the in-memory channel layer and an
in-process executor. `DATABASE_URL` and `REDIS_URL` switch to PostgreSQL, Redis and Celery.
"""

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONCE, NONE, SELF

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DATA_DIR = Path(os.environ.get("SWITCHBOARD_DATA_DIR", BASE_DIR / "var"))
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Use SECRET_KEY from the environment, else one generated once and kept in the data dir."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = DATA_DIR / "secret_key"
    if not path.exists():
        import secrets

        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
CSRF_TRUSTED_ORIGINS = env_list(
    "CSRF_TRUSTED_ORIGINS", "http://127.0.0.1:8000,http://localhost:8000"
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    # Serves ninja's bundled Swagger UI from /static/ instead of a CDN (config/api.py's docs page).
    "ninja",
    "csp",
    # Login throttling with lockout (AXES_* below).
    "axes",
    "workspaces",
    "vault",
    "builder",
    "runs",
    "triggers",
    "notifications",
    "knowledge",
    "conversations",
    "costs",
    "evals",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Outside everything that answers (WhiteNoise, the API error shape): every response has a CSP.
    "csp.middleware.CSPMiddleware",
    "config.middleware.api_error_shape",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"

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

WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    # CONN_MAX_AGE stays 0. Persistent connections would be one per thread of every pool (web
    # requests, executor jobs, Celery) whether busy or not; the pool bounds a
    # process to DB_POOL_MAX connections instead, and close() at the end of a request (or of a
    # task, or of an executor job) hands the connection back to it. Django refuses a pool with
    # persistent connections. DB_POOL_MAX=0 turns the pool off (e.g. behind PgBouncer).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=True)
    }
    # The embedded executor's threads each hold a connection while a job runs: room for them too.
    _embedded_threads = int(os.environ.get("SWITCHBOARD_EMBEDDED_THREADS", 64))
    DB_POOL_MAX = int(os.environ.get("DB_POOL_MAX", max(20, _embedded_threads + 8)))
    if DB_POOL_MAX > 0 and DATABASES["default"]["ENGINE"].endswith("postgresql"):
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": min(int(os.environ.get("DB_POOL_MIN", 2)), DB_POOL_MAX),
            "max_size": DB_POOL_MAX,
            # How long a request waits for a free connection before it is answered 429 with
            # Retry-After (config/middleware.py) rather than queueing without bound.
            "timeout": float(os.environ.get("DB_POOL_TIMEOUT", 10)),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "config.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(DATA_DIR / "switchboard.sqlite3")),
            # Kept open by each thread: web requests run on a bounded pool of threads
            # (SWITCHBOARD_WEB_THREADS) and executor jobs on the executor's, so these are at most
            # one per thread; reopening costs a connect and the PRAGMAs below on every request.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                # WAL lets readers (the web pages) proceed while the executor writes.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                # Writers take the lock when their transaction begins, so a reader never has to
                # upgrade (which SQLite refuses at once, without waiting).
                "transaction_mode": "IMMEDIATE",
                # The busy timeout: how long a writer waits for the lock before "database is
                # locked", which the API answers 429 with Retry-After, never 500.
                "timeout": float(os.environ.get("SQLITE_BUSY_TIMEOUT", 20)),
            },
        }
    }
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file (not memory) so browser tests' server subprocess can share it; one per test process
    # so parallel test runs do not trample each other.
    DATABASES["default"].setdefault("TEST", {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")})

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
# django-axes checks every login (the login page, the admin's) before the password does.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# SWITCHBOARD_LOGIN_FAILURES wrong passwords for one username from one address lock that pair
# out for SWITCHBOARD_LOGIN_LOCKOUT_MINUTES (429 with Retry-After, the login page saying when
# to try again; the right password does not get in meanwhile). A successful login resets the
# count. Locking the pair, not the username alone, keeps a stranger from locking a colleague out.
AXES_FAILURE_LIMIT = int(os.environ.get("SWITCHBOARD_LOGIN_FAILURES", 5))
AXES_COOLOFF_TIME = timedelta(
    minutes=float(os.environ.get("SWITCHBOARD_LOGIN_LOCKOUT_MINUTES", 15))
)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "config.lockout.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429
# The address is REMOTE_ADDR: behind a proxy that is the proxy's, so the pair is in effect the
# username (a proxy must then pass the client's address through to Django).
AXES_VERBOSE = False

LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
# WhiteNoise warns on every request handler it builds while this is missing (before collectstatic).
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# Bodies above this are refused before parsing (graphs are capped at 5 MB; leave room for JSON
# envelopes and imports).
DATA_UPLOAD_MAX_MEMORY_SIZE = int(os.environ.get("MAX_BODY_BYTES", 6 * 1024 * 1024))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True

# HTTPS (docs/api-and-scale.md, "Deploying behind HTTPS"). Off by default: the embedded server
# answers on http://127.0.0.1. SWITCHBOARD_HTTPS=1 turns on the set a deployment behind a
# TLS-terminating proxy wants; each variable below still overrides its own setting.
SWITCHBOARD_HTTPS = env_bool("SWITCHBOARD_HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", SWITCHBOARD_HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", SWITCHBOARD_HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", SWITCHBOARD_HTTPS)
SECURE_HSTS_SECONDS = int(
    os.environ.get("SECURE_HSTS_SECONDS", 365 * 24 * 3600 if SWITCHBOARD_HTTPS else 0)
)
# Both commit every subdomain (preload: for good), so they stay opt-in even with HTTPS on.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
# Behind the proxy Django sees plain http. Trust its X-Forwarded-Proto only when told: the proxy
# must overwrite the header, or a client could claim https. "1" means X-Forwarded-Proto; another
# value names the header.
_proxy_header = os.environ.get("SECURE_PROXY_SSL_HEADER", "1" if SWITCHBOARD_HTTPS else "0")
if _proxy_header.strip().lower() in {"0", "false", "no", "off", ""}:
    SECURE_PROXY_SSL_HEADER = None
else:
    if _proxy_header.strip().lower() in {"1", "true", "yes", "on"}:
        _proxy_header = "X-Forwarded-Proto"
    SECURE_PROXY_SSL_HEADER = ("HTTP_" + _proxy_header.strip().upper().replace("-", "_"), "https")

# Content-Security-Policy (django-csp) on every response. Scripts only from our own files (no
# inline script, no eval: htmx's allowEval is off in base.html); a template that ever needs an
# inline <script> or <style> gives it nonce="{{ request.csp_nonce }}". Styles are as strict:
# no style attributes in templates (the run page's server-drawn bars use a nonced <style>);
# scripts set styles through element.style, which CSP allows. data: images for the SVG icons
# in Swagger UI's stylesheet. The websocket streams (/ws/...): CSP3 browsers match them with
# 'self'; older ones need the ws(s) origins spelled out, one per allowed host.
_ws_schemes = ["wss"] if SWITCHBOARD_HTTPS else ["ws", "wss"]
_ws_sources = [
    f"{scheme}://{host.replace('.', '*.', 1) if host.startswith('.') else host}:*"
    for host in ALLOWED_HOSTS
    if host != "*" and "[" not in host
    for scheme in _ws_schemes
]
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF, *_ws_sources],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

REDIS_URL = os.environ.get("REDIS_URL", "")
_REDIS_DB = urlsplit(REDIS_URL).path.strip("/") or "0"
_CELERY_QUEUE = os.environ.get("SWITCHBOARD_CELERY_QUEUE", "celery")
# One Redis server can hold several deployments (and test sessions, each with its own queue):
# the queue keeps their kicks apart, this namespace their broadcasts and their counters.
_REDIS_NAMESPACE = f"switchboard:{_REDIS_DB}:{_CELERY_QUEUE}"
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            # Redis pub/sub: a broadcast is one PUBLISH. The list-based layer
            # (channels_redis.core) spent two round trips per group_send on its group's member
            # set even with nobody in it, about 1 ms of a worker's CPU per prompt step (about
            # a ninth of all of it) in bench/concurrent_runs.py. Delivery is at most once with
            # either; clients heal gaps from the event log (docs/api-and-scale.md).
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which kills every idle
            # consumer. No read timeout here.
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, "socket_timeout": None}],
                # Pub/sub channels ignore the database number, hence the database in it.
                "prefix": f"{_REDIS_NAMESPACE}:",
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache: rate-limit counters (config/ratelimits.py). In this process's memory embedded; in
# Redis with REDIS_URL, so that a limit holds across every web process.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "config.cache.SharedPoolRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": _REDIS_NAMESPACE,
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# API rate limits per user (all of a user's sessions and tokens together), "count/period" with
# a period of s, m, h or d; empty turns one off. Past one: 429 with Retry-After.
SWITCHBOARD_RATE_WRITES = os.environ.get("SWITCHBOARD_RATE_WRITES", "600/m")
SWITCHBOARD_RATE_RUN_STARTS = os.environ.get("SWITCHBOARD_RATE_RUN_STARTS", "60/m")

# Runs of one workspace running at once (runs/services/capacity.py); more wait, queued, and
# start as running ones finish. A workspace's max_running_runs overrides it; 0 means no cap.
SWITCHBOARD_MAX_RUNNING_RUNS = int(os.environ.get("SWITCHBOARD_MAX_RUNNING_RUNS", 20))

# Executor: "embedded" runs steps on a thread pool in the web process; "celery" sends kicks to
# workers. Defaults to celery when Redis is configured.
SWITCHBOARD_EXECUTOR = os.environ.get("SWITCHBOARD_EXECUTOR", "celery" if REDIS_URL else "embedded")
# Steps wait on models and APIs, not the CPU: enough threads that a 50-wide fan-out runs in one
# wave (at 32 its branches went in two, 0.5-0.6 s against 0.34 s at 64 on two cores; measured in
# bench/concurrent_runs.py and docs/api-and-scale.md). Each thread holds a database connection
# while its job runs: on PostgreSQL the web process's pool is sized for them (DB_POOL_MAX).
SWITCHBOARD_EMBEDDED_THREADS = int(os.environ.get("SWITCHBOARD_EMBEDDED_THREADS", 64))
# Threads that serve HTTP requests in the web process (the whole middleware chain and the view
# run on one of them); each may hold a database connection during its request.
SWITCHBOARD_WEB_THREADS = int(os.environ.get("SWITCHBOARD_WEB_THREADS", 128))
# A running step's lease; heartbeats renew it every third of this. A killed worker's step is
# taken back within about this long.
SWITCHBOARD_LEASE_SECONDS = int(os.environ.get("SWITCHBOARD_LEASE_SECONDS", 6))
# A job (an embedded pool task or a Celery task) runs a chain of steps one commit at a time; after
# this long it hands the rest on as a kick, so no task outlives its time limit.
SWITCHBOARD_JOB_SECONDS = float(os.environ.get("SWITCHBOARD_JOB_SECONDS", 60))

# The sweeper's period, and how long a kick the broker has delivered may go without effect before
# the sweeper takes it for lost with its worker and sends it again (runs/services/recovery.py).
SWITCHBOARD_SWEEP_SECONDS = float(os.environ.get("SWITCHBOARD_SWEEP_SECONDS", 2))
SWITCHBOARD_REKICK_SECONDS = float(os.environ.get("SWITCHBOARD_REKICK_SECONDS", 5))
# An evaluation whose driver (a thread of the process that started it) has not beaten its
# heartbeat for this long lost that process: the sweeper drives it from then on.
SWITCHBOARD_EVAL_DRIVER_STALE_SECONDS = float(
    os.environ.get("SWITCHBOARD_EVAL_DRIVER_STALE_SECONDS", 30)
)
# How deep sub-flows may call sub-flows (a run started by a person is at depth 0).
SWITCHBOARD_SUBFLOW_MAX_DEPTH = int(os.environ.get("SWITCHBOARD_SUBFLOW_MAX_DEPTH", 5))
# A map node's bounds: items per list and child runs at once (the engine caps them at 1000/50).
SWITCHBOARD_MAP_MAX_ITEMS = int(os.environ.get("SWITCHBOARD_MAP_MAX_ITEMS", 100))
SWITCHBOARD_MAP_MAX_CONCURRENCY = int(os.environ.get("SWITCHBOARD_MAP_MAX_CONCURRENCY", 10))

CELERY_BROKER_URL = REDIS_URL or "memory://"
# Kombu's Redis transport with one client per channel, not one per command (config/broker.py).
if REDIS_URL.startswith("redis://"):
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
# No acknowledgement bookkeeping in Redis: kombu's emulation of acks (two MULTI/EXEC pipelines
# per message, an unacked hash and index, a visibility timeout) took 12% of a worker's py-spy
# samples under bench/concurrent_runs.py, and recovery never used it: leases re-run a killed
# worker's step, and the sweeper re-sends within seconds the kicks it had taken but not started
# (runs/tasks.py `delivered_before`), where the emulation gave them back only after its
# visibility timeout (docs/api-and-scale.md, "No ack emulation on Redis").
CELERY_BROKER_TRANSPORT_OPTIONS = {"ack_emulation": False}
CELERY_TASK_ALWAYS_EAGER = False

# Model providers. Each has a base_url, the environment variable its key comes from, and a price
# table in USD per million input/output tokens. Keys never leave the environment.
SWITCHBOARD_PROVIDERS = {
    "openai": {
        "base_url": os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1"),
        "api_key_env": "OPENAI_API_KEY",
        "models": {
            "gpt-4o-mini": {
                "input": 0.15,
                "output": 0.60,
                "tier": "small",
                "context_window": 128_000,
            },
            "gpt-4o": {"input": 2.50, "output": 10.00, "tier": "large", "context_window": 128_000},
            "gpt-4.1-mini": {
                "input": 0.40,
                "output": 1.60,
                "tier": "medium",
                "context_window": 1_047_576,
            },
        },
    },
    "local": {
        "base_url": os.environ.get("LOCAL_LLM_BASE_URL", "http://127.0.0.1:8081/v1"),
        "api_key_env": "",
        "models": {
            "smollm2": {"input": 0.0, "output": 0.0, "tier": "small", "context_window": 8192}
        },
        # Switchboard starts the bundled llama.cpp server itself unless pointed at another one.
        "autostart": not os.environ.get("LOCAL_LLM_BASE_URL"),
    },
}
# A model's tier (small < medium < large) for automatic routing: its own "tier" above, else by
# its output price per million tokens: below "small" is small, below "medium" is medium.
SWITCHBOARD_TIER_PRICES = {"small": 1.0, "medium": 5.0}
# Outbound requests (the HTTP tool, workspace model providers) reach public addresses only. This
# admits loopback too, for tests and local development against servers on 127.0.0.1; never set
# it where flows are written by people you don't trust with the machine's own services.
SWITCHBOARD_ALLOW_LOOPBACK = env_bool("SWITCHBOARD_ALLOW_LOOPBACK", False)
SWITCHBOARD_DEFAULT_MODEL = os.environ.get(
    "SWITCHBOARD_DEFAULT_MODEL",
    "gpt-4o-mini"
    if (os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"))
    else "local/smollm2",
)

# Embeddings (knowledge bases, retrieval). The default is the local sentence-transformers model
# of the `local` extra: no key, no network. Any "provider/model" of SWITCHBOARD_PROVIDERS works.
SWITCHBOARD_EMBEDDING_MODEL = os.environ.get(
    "SWITCHBOARD_EMBEDDING_MODEL", "local/all-minilm-l6-v2"
)
# The learned model router (evals.router): the model embedding its requests (blank: the one
# above), the labels a workspace needs before one is fitted, and the new labels that make the
# sweeper refit it.
SWITCHBOARD_ROUTER_EMBEDDING_MODEL = os.environ.get("SWITCHBOARD_ROUTER_EMBEDDING_MODEL", "")
SWITCHBOARD_ROUTER_MIN_LABELS = int(os.environ.get("SWITCHBOARD_ROUTER_MIN_LABELS", 20))
SWITCHBOARD_ROUTER_REFIT_EVERY = int(os.environ.get("SWITCHBOARD_ROUTER_REFIT_EVERY", 50))
# Knowledge bases: the largest document (upload, text or fetched page), the most chunks one
# document may make, chunks embedded per committed batch, the lease an ingesting worker renews
# after every batch, and how long a queued document waits before its kick is taken for lost.
KNOWLEDGE_MAX_DOCUMENT_BYTES = int(os.environ.get("KNOWLEDGE_MAX_DOCUMENT_BYTES", 10_000_000))
KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT = int(os.environ.get("KNOWLEDGE_MAX_CHUNKS_PER_DOCUMENT", 20_000))
KNOWLEDGE_EMBED_BATCH = int(os.environ.get("KNOWLEDGE_EMBED_BATCH", 32))
# Vector search scans a base exactly up to this many chunks; a larger one is searched by the
# sign bits of its vectors first, and this many nearest by them are scored exactly
# (knowledge.search.vectors; docs/knowledge.md has what it costs in recall).
KNOWLEDGE_EXACT_SCAN_MAX = int(os.environ.get("KNOWLEDGE_EXACT_SCAN_MAX", 20_000))
KNOWLEDGE_POOL = int(os.environ.get("KNOWLEDGE_POOL", 5_000))
# A base's latest chunk changes kept for the processes whose index is behind (older ones are
# pruned; a process further behind builds its index anew).
KNOWLEDGE_CHUNK_CHANGES_KEPT = int(os.environ.get("KNOWLEDGE_CHUNK_CHANGES_KEPT", 2_000))
KNOWLEDGE_LEASE_SECONDS = float(os.environ.get("KNOWLEDGE_LEASE_SECONDS", 60))
KNOWLEDGE_REKICK_SECONDS = float(os.environ.get("KNOWLEDGE_REKICK_SECONDS", 30))
# Uploads above this are written to a temporary file instead of held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "httpx": {"level": "WARNING"},
        "httpx2": {"level": "WARNING"},
        "openai": {"level": "WARNING"},
        # Every login attempt at INFO is noise; repeated failures still show as warnings.
        "axes": {"level": "WARNING"},
    },
}


# ---- notifications ---------------------------------------------------------------------------
# Where links in emails and webhook messages point (the address people open Switchboard at).
SWITCHBOARD_PUBLIC_URL = os.environ.get("SWITCHBOARD_PUBLIC_URL", "http://127.0.0.1:8000")
# Email: printed to the console by default; SMTP when EMAIL_HOST is set.
if os.environ.get("EMAIL_HOST"):
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_HOST = os.environ["EMAIL_HOST"]
    EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "587"))
    EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
    EMAIL_TIMEOUT = 10
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "Switchboard <switchboard@localhost>")
