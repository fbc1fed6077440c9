"""Database outages: ``503 service_unavailable`` at the HTTP boundary, a fresh connection in workers.

At the HTTP boundary only connection-level failures count (Django's ``OperationalError`` and ``InterfaceError``:
server restarting, network gone, connection refused or dropped); any other error stays a
``500 internal_error``.
"""

from __future__ import annotations

import logging

from django.db import DatabaseError, InterfaceError, OperationalError, connections

from django_automate import exceptions
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

DATABASE_OUTAGES = (OperationalError, InterfaceError)
#: Seconds a client is asked to wait: about what a database server's restart takes.
RETRY_AFTER_SECONDS = 2


#: Lock conflicts, not outages: the transaction was rolled back whole and can simply run again.
#: MySQL/MariaDB error numbers (deadlock, lock wait timeout), SQLSTATEs (serialization failure, deadlock).
MYSQL_LOCK_CONFLICTS = (1213, 1205)
SQLSTATE_LOCK_CONFLICTS = ("40001", "40P01")


def is_database_outage(exc: BaseException) -> bool:
    return isinstance(exc, DATABASE_OUTAGES)


def is_lock_conflict(exc: BaseException) -> bool:
    """A deadlock victim or lock timeout: retry at once, the server is fine."""
    if not isinstance(exc, OperationalError):
        return False
    if exc.args[:1] and exc.args[0] in MYSQL_LOCK_CONFLICTS:
        return True
    return getattr(exc.__cause__, "sqlstate", None) in SQLSTATE_LOCK_CONFLICTS


def service_unavailable(exc: BaseException) -> exceptions.ServiceUnavailable:
    """Log the outage (no traceback: one line per request while the database is away) and describe it."""
    logger.warning(
        "Database unavailable, answered 503: %s: %s",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        extra=log_extra("database_unavailable"),
    )
    return exceptions.ServiceUnavailable("The database is unavailable; retry later.", retry_after=RETRY_AFTER_SECONDS)


def close_quietly(using: str) -> None:
    """Drop this thread's connection so the next query opens a fresh one; closing a broken one may fail."""
    try:
        connections[using].close()
    except (DatabaseError, InterfaceError):
        logger.debug("Closing a broken connection failed", exc_info=True)
