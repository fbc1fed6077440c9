"""Django settings of the pipeline benchmark and of the worker processes it starts.

``AUTOMATE_BENCH_DB`` picks ``postgres`` (default) or ``mysql``; the servers are
found like the test suite finds them (``PGHOST``/``PGPORT``/``PGUSER``, ``MYSQL_HOST``/
``MYSQL_PORT``/``MYSQL_USER``). ``AUTOMATE_BENCH_DB_NAME`` names the scratch database that
``bench/run.py`` created, so that its workers connect to it. ``AUTOMATE_BENCH_CONN_MAX_AGE``
keeps database connections open between requests (gunicorn in ``bench/ingest.py`` sets it, for
both the webhook endpoint and the baseline view).
"""

from __future__ import annotations

import json
import os

SECRET_KEY = "bench-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "bench.urls"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "rest_framework",
    "django_automate",
    "bench.baseline",
]
MIDDLEWARE: list[str] = []

DB = os.environ.get("AUTOMATE_BENCH_DB", "postgres")
NAME = os.environ.get("AUTOMATE_BENCH_DB_NAME")
CONN_MAX_AGE = int(os.environ.get("AUTOMATE_BENCH_CONN_MAX_AGE", "0"))
# The scratch database bench/run.py creates; set it to run two benchmarks side by side on one server.
TEST_NAME = os.environ.get("AUTOMATE_BENCH_SCRATCH_DB", "automate_bench_pipeline")
PREPARE_THRESHOLD = int(os.environ.get("AUTOMATE_BENCH_PREPARE_THRESHOLD", "5") or 0) or None
if DB == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": NAME or "postgres",
            "USER": os.environ.get("PGUSER", "postgres"),
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "CONN_MAX_AGE": CONN_MAX_AGE,
            # psycopg's default, which Django turns off unless set; AUTOMATE_BENCH_PREPARE_THRESHOLD="" leaves it off.
            "OPTIONS": {"prepare_threshold": PREPARE_THRESHOLD},
            "TEST": {"NAME": TEST_NAME},
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
            "CONN_MAX_AGE": CONN_MAX_AGE,
            "OPTIONS": {"charset": "utf8mb4"},
            "TEST": {"NAME": TEST_NAME, "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_bin"},
        }
    }
else:
    raise RuntimeError(f"AUTOMATE_BENCH_DB must be postgres or mysql, not {DB!r}")

# Production-like: defaults everywhere except what a benchmark must not measure.
# AUTOMATE_BENCH_SETTINGS (JSON) overrides AUTOMATE settings, to compare them: '{"WORKER_BATCH_SIZE": 1}'.
AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True, **json.loads(os.environ.get("AUTOMATE_BENCH_SETTINGS") or "{}")}
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
}
