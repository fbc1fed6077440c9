"""Settings of the example project: SQLite by default, ``DATABASE_URL`` for PostgreSQL or MariaDB."""

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-project-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
ROOT_URLCONF = "example_project.urls"
WSGI_APPLICATION = "example_project.wsgi.application"
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "static/"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_automate",
    "shop",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]

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
            ]
        },
    }
]

DATABASES = {
    "default": dj_database_url.config(default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}", conn_max_age=0),
}

AUTOMATE = {
    # Every key is optional; see docs/settings.md.
    "EXECUTION_BACKEND": "database",
    "POLL_INTERVAL_SECONDS": 0.5,
    # Secrets stored through the API or the admin are encrypted with these keys. The default
    # is for this example only: set AUTOMATE_ENCRYPTION_KEY (a Fernet key) anywhere else.
    "ENCRYPTION_KEYS": [os.environ.get("AUTOMATE_ENCRYPTION_KEY", "ZXhhbXBsZS1vbmx5LWtleS1kby1ub3QtdXNlLTEyMzQ=")],
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"trace": {"()": "django_automate.tracing.logging.TraceContextFilter"}},
    "formatters": {"json": {"()": "django_automate.tracing.logging.JSONFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["trace"]}},
    "loggers": {"django_automate": {"handlers": ["console"], "level": "WARNING"}},
}
