"""Database sessions of worker processes: a frozen or cut-off worker cannot hold rows past its lease.

A job's lease ends after ``LEASE_SECONDS`` without a heartbeat, but a worker that stops
(SIGSTOP, a long GC pause, a VM freeze, a network partition) *inside* a transaction keeps
its row locks until the server notices; the next worker's ``SKIP LOCKED`` claim skips those
rows, so the job could stay unavailable for as long as the server waits. Worker sessions
therefore tell the server to end a transaction that sits idle for longer than a lease, and
(PostgreSQL) to probe the client's TCP connection at the same pace:

- PostgreSQL: ``idle_in_transaction_session_timeout``, ``tcp_keepalives_idle``,
  ``tcp_keepalives_interval``, ``tcp_keepalives_count`` and ``tcp_user_timeout``.
- MariaDB: ``idle_transaction_timeout`` (MySQL has no equivalent; see docs/scaling.md).
- SQLite: one machine, nothing to bound.

The server rolls the frozen transaction back, so a worker that wakes up finds its
connection closed and its lease gone, and writes nothing.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.signals import connection_created

from django_automate import conf
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

#: Keepalive probes before the server gives up on a silent client.
KEEPALIVE_COUNT = 3


def idle_timeout_seconds() -> int:
    """How long a worker's transaction may sit idle before the server ends it: one lease, at least 1 s."""
    return max(1, math.ceil(conf.lease_seconds()))


def statements(vendor: str, *, is_mariadb: bool = False) -> list[str]:
    """The session settings for a worker connection of ``vendor``."""
    seconds = idle_timeout_seconds()
    if vendor == "postgresql":
        probe = max(1, seconds // (KEEPALIVE_COUNT + 1))
        return [
            f"SET idle_in_transaction_session_timeout = {seconds * 1000}",
            f"SET tcp_keepalives_idle = {probe}",
            f"SET tcp_keepalives_interval = {probe}",
            f"SET tcp_keepalives_count = {KEEPALIVE_COUNT}",
            f"SET tcp_user_timeout = {seconds * 1000}",
        ]
    if vendor == "mysql" and is_mariadb:
        return [f"SET SESSION idle_transaction_timeout = {seconds}"]
    return []


def configure(connection: BaseDatabaseWrapper) -> None:
    """Apply :func:`statements` to an open connection."""
    sql = statements(connection.vendor, is_mariadb=bool(getattr(connection, "mysql_is_mariadb", False)))
    if not sql:
        return
    with connection.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement)


def _on_connection_created(sender: Any, connection: BaseDatabaseWrapper, **kwargs: Any) -> None:
    configure(connection)


def install(using: str = "default") -> None:
    """Configure every session this process opens from now on, and the one open already.

    Called when a worker starts; web processes keep the server's defaults.
    """
    connection_created.connect(_on_connection_created, dispatch_uid="automate_worker_sessions")
    connection = connections[using]
    if connection.connection is not None:
        configure(connection)
    logger.debug(
        "Worker sessions end transactions idle for more than %s s",
        idle_timeout_seconds(),
        extra=log_extra("worker_sessions"),
    )
