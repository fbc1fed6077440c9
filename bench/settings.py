"""Django settings of the pipeline benchmark and of the worker processes it starts.

``AUTOMATE_BENCH_DB`` picks ``postgres`` (default) or ``mysql``; the servers are
found like the test suite finds them (``PGHOST``/``PGPORT``/``PGUSER``, ``MYSQL_HOST``/
``MYSQL_PORT``/``MYSQL_USER``). ``AUTOMATE_BENCH_DB_NAME`` names the scratch database that
``bench/run.py`` created, so that its workers connect to it.
"""

from __future__ import annotations

import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "django_automate.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = ["django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "django_automate"]
MIDDLEWARE: list[str] = []

DB = os.environ.get("AUTOMATE_BENCH_DB", "postgres")
NAME = os.environ.get("AUTOMATE_BENCH_DB_NAME")
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": NAME or "postgres",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "TEST": {"NAME": "automate_bench_pipeline"},
        }
    }
elif DB == "mysql":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.mysql",
            "NAME": NAME or "mysql",
            "USER": os.environ.get("MYSQL_USER", "root"),
            "HOST": os.environ.get("MYSQL_HOST", "127.0.0.1"),
            "PORT": os.environ.get("MYSQL_PORT", "3306"),
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": "automate_bench_pipeline", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        }
    }
else:
    raise RuntimeError(f"AUTOMATE_BENCH_DB must be postgres or mysql, not {DB!r}")

# Production-like: defaults everywhere except what a benchmark must not measure.
AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
