"""PostgreSQL: a row and the job that refers to it, written by one statement with their NOTIFY.

``WITH row AS (INSERT …), job AS (INSERT … RETURNING id) SELECT id, pg_notify(…) FROM job``
is one round trip, and outside a transaction its own (implicit) one: storing an event and its
routing job costs one statement where ``create()`` + ``create()`` + NOTIFY in a transaction
costs five (BEGIN and COMMIT included). Both rows go in or neither: a duplicate key fails the
whole statement with the same IntegrityError as before. The SQL comes from Django's own insert
compiler, so every field is prepared exactly as ``save()`` prepares it.
"""

from __future__ import annotations

from typing import Any

from django.db import connections
from django.db.models import Model
from django.db.models.signals import post_save, pre_save

from django_automate import conf
from django_automate.internal import sql
from django_automate.models import OutboxJob
from django_automate.outbox.notify import NOTIFY_CHANNEL


def available(model: type[Model], using: str) -> bool:
    """Whether :func:`insert_with_job` may replace ``save()`` here.

    Only on PostgreSQL, with the database backend (other backends hand the job over on commit),
    and when no ``pre_save``/``post_save`` receiver listens to either model (one statement sends none).
    """
    return (
        connections[using].vendor == "postgresql"
        and conf.execution_backend() == "database"
        and not any(signal.has_listeners(sender) for signal in (pre_save, post_save) for sender in (model, OutboxJob))
    )


def insert_with_job(row: Model, job: OutboxJob, *, using: str) -> None:
    """Insert ``row`` (primary key already set) and ``job``, and notify the workers, in one statement."""
    row_sql, row_params = sql.insert_sql(row, using)
    job_sql, job_params = sql.insert_sql(job, using)
    statement = (
        f"WITH automate_row AS ({row_sql}), automate_job AS ({job_sql} RETURNING id) "
        "SELECT id, pg_notify(%s, %s) FROM automate_job"
    )
    with sql.hot_cursor(using) as cursor:
        params: list[Any] = [*row_params, *job_params, NOTIFY_CHANNEL, job.queue]
        cursor.execute(statement, params)
        job.pk = cursor.fetchone()[0]
    for saved in (row, job):
        saved._state.adding = False
        saved._state.db = using
