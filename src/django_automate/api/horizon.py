"""The *safe horizon*: a time up to which no row can still appear.

Timestamps such as ``Event.received_at`` are taken when a row is inserted, not when its
transaction commits, so a slow transaction can commit a row that sorts before rows other
clients have already paged past. Pages that reach towards new rows therefore stop at the
horizon, and pages read in a way that sees rows still being written:

- PostgreSQL: the horizon is the start of the oldest transaction that is writing
  (``pg_stat_activity``), minus ``AUTOMATE["API_CURSOR_SAFETY_SECONDS"]`` (clock skew between
  application servers and the database, and the moment between taking the timestamp and
  sending the INSERT). Sessions of other database roles are only visible with
  ``pg_read_all_stats``.
- MySQL/MariaDB: the horizon is now minus the margin, and every page is read with
  ``LOCK IN SHARE MODE`` (:func:`locked_ids`): InnoDB makes such a read wait for rows that
  other transactions inserted but have not committed, so a page never skips one.
  (``information_schema.INNODB_TRX`` would be the obvious source, but InnoDB refreshes it
  only when nobody has read it for 0.1 s, so frequent polling keeps it stale.)
- SQLite: writers are serialised; the horizon is now minus the margin.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

from django.conf import settings
from django.db import OperationalError, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone as dj_timezone

from django_automate import conf, exceptions
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

_POSTGRES = """
SELECT clock_timestamp(), min(xact_start) FROM pg_stat_activity
WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datname = current_database()
"""


def _postgres(alias: str) -> datetime:
    with connections[alias].cursor() as cursor:
        cursor.execute(_POSTGRES)
        now, oldest = cursor.fetchone()
    return min(now, oldest) if oldest is not None else now


def safe_horizon(alias: str) -> datetime:
    """The newest timestamp a page may reach towards new rows (see the module docstring)."""
    vendor = connections[alias].vendor
    if vendor == "postgresql":
        start = _postgres(alias)
    else:
        start = dj_timezone.now()
    if not dj_timezone.is_aware(start):
        start = start.replace(tzinfo=timezone.utc)
    horizon = start - timedelta(seconds=conf.api_cursor_safety_seconds())
    return horizon if settings.USE_TZ else dj_timezone.make_naive(horizon)


def locked_ids(queryset: QuerySet[Any], *, attempts: int = 3) -> list[Any]:
    """Primary keys of ``queryset`` read with ``LOCK IN SHARE MODE`` (MySQL/MariaDB).

    The read waits for uncommitted rows in the range it scans, so the result holds every row
    that was inserted before the read began. The locks are released when it returns.
    """
    alias = queryset.db
    sql, params = queryset.values_list("pk", flat=True).query.get_compiler(using=alias).as_sql()
    for attempt in range(attempts):
        try:
            with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
                cursor.execute(f"{sql} LOCK IN SHARE MODE", params)
                return [row[0] for row in cursor.fetchall()]
        except OperationalError as exc:
            code = exc.args[0] if exc.args else None
            if code == 1213 and attempt < attempts - 1:  # deadlock with a writer: read again
                continue
            if code in (1205, 1213):
                logger.warning("Page read gave up waiting for a writer: %s", exc, extra=log_extra("api_page_locked"))
                raise exceptions.Conflict(
                    "Rows on this page are being written by a long transaction; retry later."
                ) from None
            raise
    raise AssertionError("unreachable")
