"""Settings for the test suite; ``AUTOMATE_TEST_DB`` picks sqlite (default), postgres or mysql."""

from __future__ import annotations

import json
import os
from typing import Any

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "tests.urls"
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
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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

DB = os.environ.get("AUTOMATE_TEST_DB", "sqlite")
# Lets several test runs share one server without clashing on the test database name.
SUFFIX = os.environ.get("AUTOMATE_TEST_DB_SUFFIX", "")
# Worker subprocesses started by acceptance tests connect to the test database by name.
DB_NAME_OVERRIDE = os.environ.get("AUTOMATE_TEST_DB_NAME")

PREPARE = os.environ.get("AUTOMATE_TEST_PREPARE_THRESHOLD", "")
PREPARE_THRESHOLD = int(PREPARE) if PREPARE else None
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": DB_NAME_OVERRIDE or "automate",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            # AUTOMATE_TEST_PREPARE_THRESHOLD: psycopg's prepared statements (Django leaves them off).
            "OPTIONS": {"prepare_threshold": PREPARE_THRESHOLD},
            "TEST": {"NAME": f"test_automate{SUFFIX}"},
        }
    }
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": DB_NAME_OVERRIDE or "automate",
            "USER": os.environ.get("MYSQL_USER", "root"),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": f"test_automate{SUFFIX}", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        }
    }
elif DB == "sqlite":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DB_NAME_OVERRIDE or os.path.join(os.path.dirname(__file__), ".automate-tests.sqlite3"),
            "TEST": {"NAME": os.path.join(os.path.dirname(__file__), f".automate-test-db{SUFFIX}.sqlite3")},
            "OPTIONS": {"timeout": 30},
        }
    }
else:
    raise RuntimeError(f"AUTOMATE_TEST_DB must be sqlite, postgres or mysql, not {DB!r}")

AUTOMATE: dict[str, Any] = {
    "HTTP_ALLOW_PRIVATE_NETWORKS": True,  # tests call HTTP servers on 127.0.0.1
    "POLL_INTERVAL_SECONDS": 0.05,
    "LEASE_SECONDS": float(os.environ.get("AUTOMATE_TEST_LEASE_SECONDS", "30")),
    "HEARTBEAT_SECONDS": float(os.environ.get("AUTOMATE_TEST_LEASE_SECONDS", "30")) / 3,
    # The suite makes many unauthenticated calls from one address; the tests of this limit set it.
    "API_AUTH_FAILURE_RATE": None,
}
# Worker subprocesses of acceptance tests get their backfill settings here (a rate of "none": no limit).
for _name in ("BACKFILL_EVENTS_PER_SECOND", "BACKFILL_BATCH_SIZE", "BACKFILL_QUEUE"):
    _value = os.environ.get(f"AUTOMATE_TEST_{_name}")
    if _value is not None:
        AUTOMATE[_name] = None if _value == "none" else _value if _name == "BACKFILL_QUEUE" else float(_value)
# Worker subprocesses of acceptance tests get their ``python`` actions here: JSON, {name: import path}.
if os.environ.get("AUTOMATE_TEST_PYTHON_ACTIONS"):
    AUTOMATE["PYTHON_ACTIONS"] = json.loads(os.environ["AUTOMATE_TEST_PYTHON_ACTIONS"])

# Django's Tasks framework (Django 6.0+, or the django-tasks backport) on our backend: tests/testapp/tasks.py.
TASKS = {
    "default": {"BACKEND": "django_automate.tasks.AutomateBackend", "QUEUES": ["default", "emails"]},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"django_automate": {"handlers": ["console"], "level": os.environ.get("AUTOMATE_LOG_LEVEL", "WARNING")}},
}
