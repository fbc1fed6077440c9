"""The task of ``bench/tasks.py``, and its enqueuing: ``python -m bench.tasks_app N``.

Enqueues N no-op tasks through the public API (``noop.enqueue(n)``), in one transaction, on
the backend that ``AUTOMATE_BENCH_TASKS_BACKEND`` picks (``bench/tasks_settings.py``), and
prints the time of the commit.
"""

from __future__ import annotations

import sys
import time

if __name__ == "__main__":  # the backend is looked up when a task is defined: set Django up first
    import django

    django.setup()

try:
    from django.tasks import task
except ImportError:  # Django < 6.0: the django-tasks backport
    from django_tasks import task  # type: ignore[no-redef]


@task
def noop(n: int) -> None:
    """Nothing: what is measured is the queue around it (a sync task, as Django code usually is)."""


def enqueue(count: int) -> float:
    from django.db import transaction

    with transaction.atomic():
        for n in range(count):
            noop.enqueue(n)
    return time.time()


if __name__ == "__main__":
    from bench.tasks_app import enqueue as enqueue_here  # the task's path is bench.tasks_app.noop, not __main__

    print(enqueue_here(int(sys.argv[1])))
