"""Settings of ``bench/tasks.py``'s subprocesses: ``bench/settings.py`` plus one Tasks backend.

``AUTOMATE_BENCH_TASKS_BACKEND`` picks the backend: ``automate`` (``AutomateBackend``,
default) or ``db`` (django-tasks-db's ``DatabaseBackend``). Both apps are installed whenever
django-tasks-db is importable (``bench/tasks.py`` puts it on the ``PYTHONPATH``), so one
``migrate`` creates the tables of both.
"""

from __future__ import annotations

import importlib.util
import os

from bench.settings import *  # noqa: F403
from bench.settings import INSTALLED_APPS

BACKENDS = {
    "automate": "django_automate.tasks.AutomateBackend",
    "db": "django_tasks_db.DatabaseBackend",
}
INSTALLED_APPS = [*INSTALLED_APPS]
if importlib.util.find_spec("django.tasks") is None:  # Django < 6.0: the backport
    INSTALLED_APPS.append("django_tasks")
if importlib.util.find_spec("django_tasks_db") is not None:
    INSTALLED_APPS.append("django_tasks_db")
TASKS = {"default": {"BACKEND": BACKENDS[os.environ.get("AUTOMATE_BENCH_TASKS_BACKEND", "automate")]}}
