"""Django settings for Clearinghouse.

Everything a deployment changes is read from the environment (see docs/operations.md):
``DATABASE_URL``, ``CLEARINGHOUSE_SECRET_KEY``, ``CLEARINGHOUSE_DEBUG``, ``CLEARINGHOUSE_VAR_DIR``,
``CLEARINGHOUSE_ALLOWED_HOSTS``, ``CLEARINGHOUSE_MAX_BODY_BYTES``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

PACKAGE_DIR = Path(__file__).resolve().parent
VAR_DIR = Path(os.environ.get("CLEARINGHOUSE_VAR_DIR", Path.cwd() / "var")).resolve()

DEBUG = os.environ.get("CLEARINGHOUSE_DEBUG", "0") == "1"


def _secret_key() -> str:
    """The secret key from the environment, else one generated once and kept under VAR_DIR.

    A fixed development key in the source would sign sessions that anyone could forge.
    """
    from_env = os.environ.get("CLEARINGHOUSE_SECRET_KEY")
    if from_env:
        return from_env
    import secrets

    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    try:
        return key_file.read_text().strip()
    except FileNotFoundError:
        key = secrets.token_urlsafe(50)
        # O_EXCL: two processes starting at once must not write two different keys.
        try:
            fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return key_file.read_text().strip()
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = os.environ.get(
    "CLEARINGHOUSE_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver"
).split(",")

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_tasks_db",
    "clearinghouse.accounts",
    "clearinghouse.catalog",
    "clearinghouse.audit",
    "clearinghouse.intake",
    "clearinghouse.triage",
    "clearinghouse.replay",
    "clearinghouse.coordination",
    "clearinghouse.sharing",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "clearinghouse.core.middleware.ContentSecurityPolicyMiddleware",
    "clearinghouse.core.middleware.ApiBodyLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "clearinghouse.urls"
WSGI_APPLICATION = "clearinghouse.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [PACKAGE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "clearinghouse.core.context_processors.permissions",
            ],
            "builtins": ["clearinghouse.core.templatetags.inert"],
        },
    },
]


def _databases() -> dict[str, dict[str, object]]:
    url = os.environ.get("DATABASE_URL")
    if url:
        config: dict[str, object] = dict(dj_database_url.parse(url, conn_max_age=60))
        if str(config["ENGINE"]).endswith("postgresql"):
            config["CONN_HEALTH_CHECKS"] = True
            # Tests get their own database next to the one named in the URL.
            # CLEARINGHOUSE_TEST_DATABASE lets two test runs share one server without clashing.
            config["TEST"] = {
                "NAME": os.environ.get(
                    "CLEARINGHOUSE_TEST_DATABASE", f"{config['NAME']}_clearinghouse_test"
                )
            }
        return {"default": config}
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    return {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get(
                "CLEARINGHOUSE_SQLITE_PATH", str(VAR_DIR / "clearinghouse.sqlite3")
            ),
            "OPTIONS": {
                # IMMEDIATE takes the write lock at BEGIN, so concurrent writers queue on
                # busy_timeout instead of failing with "database is locked" on lock upgrade.
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=NORMAL;"
                    "PRAGMA foreign_keys=ON;"
                    "PRAGMA busy_timeout=20000;"
                ),
            },
            "TEST": {"NAME": str(VAR_DIR / "test.sqlite3")},
        }
    }


DATABASES = _databases()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {
    "default": {
        "BACKEND": os.environ.get("CLEARINGHOUSE_TASK_BACKEND", "django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default", "triage", "replay"],
    }
}

AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "accounts:login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise warns on every start otherwise
STATICFILES_DIRS = [PACKAGE_DIR / "static"]
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Largest accepted API body. Reports are text; a megabyte holds a very long conversation.
CLEARINGHOUSE_MAX_BODY_BYTES = int(os.environ.get("CLEARINGHOUSE_MAX_BODY_BYTES", str(1024 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = CLEARINGHOUSE_MAX_BODY_BYTES + 1024 * 64
# Retry policy of background tasks: attempts in all, and the first backoff in seconds.
CLEARINGHOUSE_TASK_MAX_ATTEMPTS = int(os.environ.get("CLEARINGHOUSE_TASK_MAX_ATTEMPTS", "5"))
CLEARINGHOUSE_TASK_BACKOFF_SECONDS = float(
    os.environ.get("CLEARINGHOUSE_TASK_BACKOFF_SECONDS", "2")
)
# Replay every new report (not duplicates) against the active endpoints once it is triaged:
# a clearinghouse verifies, it does not take claims on trust. Set to 0 to start campaigns by hand.
CLEARINGHOUSE_AUTO_REPLAY = os.environ.get("CLEARINGHOUSE_AUTO_REPLAY", "1") == "1"
CLEARINGHOUSE_AUTO_REPLAY_TRIALS = int(os.environ.get("CLEARINGHOUSE_AUTO_REPLAY_TRIALS", "5"))
# A running campaign's runner beats every second; this long a silence means its worker died, and
# a worker starting up requeues it (clearinghouse worker --requeue-stale-after).
CLEARINGHOUSE_CAMPAIGN_HEARTBEAT_TIMEOUT = float(
    os.environ.get("CLEARINGHOUSE_CAMPAIGN_HEARTBEAT_TIMEOUT", "60")
)
# Endpoints vendors register must have public addresses: replay workers must not be steered
# into the clearinghouse's own network. 0 only for a lab where vendors' models run locally.
CLEARINGHOUSE_VENDOR_ENDPOINTS_PUBLIC_ONLY = (
    os.environ.get("CLEARINGHOUSE_VENDOR_ENDPOINTS_PUBLIC_ONLY", "1") == "1"
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {
        "handlers": ["console"],
        "level": os.environ.get("CLEARINGHOUSE_LOG_LEVEL", "WARNING"),
    },
    "loggers": {
        "clearinghouse": {"level": os.environ.get("CLEARINGHOUSE_LOG_LEVEL", "INFO")},
    },
}

# db_comment documents the schema on PostgreSQL; SQLite has no column comments and says so per field.
SILENCED_SYSTEM_CHECKS = ["fields.W163", "models.W046"]
