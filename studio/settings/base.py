"""Settings shared by every environment; everything that differs comes from the environment (12-factor)."""

import socket
from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DATA_DIR = Path(env.str("STUDIO_DATA_DIR", default=str(BASE_DIR / "var"))).resolve()
UPLOADS_DIR = DATA_DIR / "uploads"
DATASETS_DIR = DATA_DIR / "datasets"
ARTIFACTS_DIR = DATA_DIR / "artifacts"
MODEL_CACHE_DIR = Path(env.str("STUDIO_MODEL_CACHE", default=str(DATA_DIR / "model-cache"))).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("DJANGO_SECRET_KEY", default="insecure-local-only-key-change-me")
DEBUG = env.bool("DJANGO_DEBUG", default=False)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "studio",
    "audit",
    "projects",
    "training",
    "evaluation",
    "governance",
    "serving",
    "axes",
    "csp",
]

MIDDLEWARE = [
    "studio.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "studio.middleware.RequestIdMiddleware",
    "studio.middleware.UploadSizeLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "studio.middleware.ApplicationErrorPageMiddleware",
    "axes.middleware.AxesMiddleware",
    "csp.middleware.CSPMiddleware",
]

# Content-Security-Policy (django-csp): every asset is local, no inline script, no inline style, no eval.
# Templates and scripts keep to it (tests/test_csp.py reads every template; the browser tests fail on
# any violation). `data:` images are Bootstrap's form-control icons.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

ROOT_URLCONF = "studio.urls"
WSGI_APPLICATION = "studio.wsgi.application"
ASGI_APPLICATION = "studio.asgi.application"

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
                "projects.context_processors.current_team",
                "governance.context_processors.approvals_unread",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'studio.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web process and the worker read while the other writes. Transactions take the write
    # lock when they begin (IMMEDIATE), waiting up to `timeout` for it: a deferred transaction that read
    # first fails at once with "database is locked" when another process (a worker's heartbeat) committed
    # a write since its read, instead of waiting its turn.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Shared by every web process of a host (the brute-force counters live here); CACHE_URL for a cluster.
CACHES = {"default": env.cache("CACHE_URL", default=f"filecache://{DATA_DIR / 'cache'}")}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "studio.throttling.SignInLockoutBackend",  # refuses a locked-out account or address before checking
    "django.contrib.auth.backends.ModelBackend",
]

# Notifications (promotion requests to approve, rollbacks) go by e-mail too: printed on the console
# unless a real backend is configured.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="studio@localhost")

LOGIN_URL = "login"

# Brute force (studio/throttling.py). Behind a reverse proxy, STUDIO_TRUSTED_PROXIES says how many
# X-Forwarded-For hops to trust; with 0 the header is ignored and the client is REMOTE_ADDR.
STUDIO_TRUSTED_PROXIES = env.int("STUDIO_TRUSTED_PROXIES", default=0)
# Sign-in form and admin: this many failures for one account, or from one address, lock it for the cool-off.
AXES_FAILURE_LIMIT = env.int("STUDIO_SIGN_IN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("STUDIO_SIGN_IN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "studio.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "studio.throttling.sign_in_lockout_response"
AXES_VERBOSE = False
# API: failed bearer credentials (personal access tokens) allowed per address ("N/second|minute|hour").
STUDIO_FAILED_BEARER_RATE = env.str("STUDIO_FAILED_BEARER_RATE", default="10/minute")
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = DATA_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
MEDIA_ROOT = DATA_DIR / "media"

# Uploads stream to disk above 2.5 MB; the hard cap is enforced before the body is read.
STUDIO_MAX_UPLOAD_BYTES = env.int("STUDIO_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None
# Uploads up to this size are checked in the request (201 with the version); larger ones are stored as
# they stream in and checked on a worker (202 with a dataset import to follow).
STUDIO_UPLOAD_INLINE_BYTES = env.int("STUDIO_UPLOAD_INLINE_BYTES", default=1024 * 1024)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "projects.authentication.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    # JSON bodies within studio.jsonbounds (depth, text, finite numbers); forms and multipart as DRF's.
    "DEFAULT_PARSER_CLASSES": [
        "studio.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "studio.api.pagination.StudioPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "studio.api.openapi.StudioAutoSchema",
    "EXCEPTION_HANDLER": "studio.errors.api_exception_handler",
    "NUM_PROXIES": env.int("STUDIO_TRUSTED_PROXIES", default=0),
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "SLM Studio API",
    "DESCRIPTION": "Teams, datasets, fine-tuning jobs, evaluations, approvals and endpoints.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "ENUM_NAME_OVERRIDES": {
        "DatasetKindEnum": "projects.choices.DatasetKind",
        "ModelVersionKindEnum": "training.choices.ModelVersionKind",
        "StageEnum": "training.choices.Stage",
        "RoleEnum": "projects.choices.Role",
        "ApproverRoleEnum": "governance.choices.ApproverRole",
        "PromotionStatusEnum": "governance.choices.PromotionStatus",
        "ModelCardStatusEnum": "governance.choices.ModelCardStatus",
        "EndpointStatusEnum": "serving.choices.EndpointStatus",
        "RunStatusEnum": "evaluation.choices.RunStatus",
    },
}

# Celery: an embedded filesystem broker by default, Redis (or any kombu URL) when set.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=f"file://{DATA_DIR / 'celery-results'}")
else:
    CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 3600}
    CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default=CELERY_BROKER_URL)
CELERY_TASK_ALWAYS_EAGER = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "filters": {"refusals_without_traceback": {"()": "studio.logfilters.RefusalsWithoutTraceback"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "django.request": {"filters": ["refusals_without_traceback"]},
    },
}

# Training jobs: a running job's lease lapses this long after its worker's last heartbeat.
STUDIO_TRAINING_LEASE_SECONDS = env.int("STUDIO_TRAINING_LEASE_SECONDS", default=60)
STUDIO_TRAINING_MAX_ATTEMPTS = env.int("STUDIO_TRAINING_MAX_ATTEMPTS", default=3)
# Dataset imports (large uploads checked on a worker) hold the same kind of lease.
STUDIO_IMPORT_LEASE_SECONDS = env.int("STUDIO_IMPORT_LEASE_SECONDS", default=60)
STUDIO_IMPORT_MAX_ATTEMPTS = env.int("STUDIO_IMPORT_MAX_ATTEMPTS", default=3)
# How often each worker looks for jobs whose worker was lost (the reaper), in seconds.
STUDIO_REAPER_INTERVAL_SECONDS = env.int("STUDIO_REAPER_INTERVAL_SECONDS", default=15)
# A row queued this long (seconds) without a worker claiming it is sent to the broker again: its
# message may have been lost (a Redis restarted without persistence, a send while it was down).
STUDIO_REDISPATCH_SECONDS = env.float("STUDIO_REDISPATCH_SECONDS", default=300)
# Eval runs: the same lease rules as training jobs (their reaper runs on the same interval).
STUDIO_EVALUATION_LEASE_SECONDS = env.int("STUDIO_EVALUATION_LEASE_SECONDS", default=60)
STUDIO_EVALUATION_MAX_ATTEMPTS = env.int("STUDIO_EVALUATION_MAX_ATTEMPTS", default=3)
# Progress rows are written at most this often (seconds) while a job runs.
STUDIO_PROGRESS_INTERVAL_SECONDS = env.float("STUDIO_PROGRESS_INTERVAL_SECONDS", default=2.0)
STUDIO_CODE_VERSION = env.str("STUDIO_CODE_VERSION", default="")
# The registry in which this host's ML processes share its cores (training/engine/cores.py): one folder
# per host, so workers on other machines that share STUDIO_DATA_DIR do not count against this one.
# STUDIO_ML_CORES (read by the engine) caps the cores they share; default: every core.
STUDIO_ML_CORES_DIR = Path(
    env.str("STUDIO_ML_CORES_DIR", default=str(DATA_DIR / "cores" / socket.gethostname()))
)

# The inference process (`manage.py serve`): where it listens and which engine backend answers.
SERVING = {
    "host": env.str("SERVING_HOST", default="127.0.0.1"),
    "port": env.int("SERVING_PORT", default=8001),
    # How callers reach it, shown on the endpoint pages (e.g. https://llm.example.com behind a proxy);
    # empty: the web page's host on SERVING_PORT.
    "public_url": env.str("SERVING_PUBLIC_URL", default=""),
    "backend": env.str("SERVING_BACKEND", default="embedded"),  # embedded | vllm
    "vllm_url": env.str("SERVING_VLLM_URL", default=""),
    # Folders as the studio sees them -> as the vLLM server sees them, e.g. {"/srv/studio/var": "/data"}.
    "vllm_path_map": env.json("SERVING_VLLM_PATH_MAP", default={}),
    "device": env.str("SERVING_DEVICE", default=""),
    "max_batch_size": env.int("SERVING_MAX_BATCH_SIZE", default=16),
    "max_queue": env.int("SERVING_MAX_QUEUE", default=64),
}

# Serving: what a thousand tokens (prompt + completion) cost to serve, for the cost figures on endpoint
# pages and the team's weekly summary; and how long request logs are kept.
STUDIO_SERVING_COST_PER_1K_TOKENS = env.float("STUDIO_SERVING_COST_PER_1K_TOKENS", default=0.0002)
STUDIO_SERVING_COST_CURRENCY = env.str("STUDIO_SERVING_COST_CURRENCY", default="USD")
STUDIO_SERVING_LOG_RETENTION_DAYS = env.int("STUDIO_SERVING_LOG_RETENTION_DAYS", default=30)
