"""Waiting for work: ``LISTEN/NOTIFY`` on PostgreSQL, a plain sleep elsewhere."""

from __future__ import annotations

import logging
import threading
from typing import Any

from django.db import connections

from django_automate.outbox.enqueue import NOTIFY_CHANNEL

logger = logging.getLogger(__name__)


class Waiter:
    """Sleeps up to the poll interval, waking early when a job is enqueued (PostgreSQL only).

    The LISTEN connection is separate from Django's, so waiting never holds a transaction.
    """

    def __init__(self, *, using: str = "default") -> None:
        self.using = using
        self._conn: Any = None
        if connections[using].vendor == "postgresql":
            try:
                self._conn = self._listen()
            except Exception:
                logger.warning("LISTEN unavailable; falling back to polling", exc_info=True)

    def _listen(self) -> Any:
        import psycopg

        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        conn = psycopg.connect(**params, autocommit=True)
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        return conn

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        if self._conn is None:
            stopping.wait(timeout)
            return
        try:
            for _ in self._conn.notifies(timeout=timeout, stop_after=1):
                break
        except Exception:
            logger.warning("LISTEN connection failed; polling instead", exc_info=True)
            self.close()
            stopping.wait(timeout)

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None
