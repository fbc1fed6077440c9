"""Waiting for work: ``LISTEN/NOTIFY`` on PostgreSQL, a plain sleep elsewhere."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from typing import Any

from django.db import connections

from django_automate.outbox.notify import LATER_PAYLOAD, NOTIFY_CHANNEL
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

# Seconds between attempts to LISTEN again after the connection failed (server restart).
RELISTEN_SECONDS = (0.5, 1.0, 2.0, 5.0)
#: Pending notifications consumed at most per wake-up (bounds the drain under a constant stream).
MAX_DRAINED = 10_000
#: Longest stretch of waiting for a notification without looking at the stop flag (no query is sent).
STOP_CHECK_SECONDS = 0.5


class Waiter:
    """Sleeps up to the poll interval, waking early when a job is enqueued (PostgreSQL only).

    The LISTEN connection is separate from Django's, so waiting never holds a transaction.
    When it breaks (the server restarted), the waiter polls and LISTENs again with a backoff;
    a notification sent meanwhile is not needed, since the worker claims after every wait.
    """

    def __init__(self, *, using: str = "default") -> None:
        self.using = using
        self._conn: Any = None
        self._listening = connections[using].vendor == "postgresql"
        self._failures = 0
        self._retry_at = 0.0
        #: The last wait ended on notifications of jobs claimable now only (none of LATER_PAYLOAD).
        self.woken_by_ready = False
        if self._listening:
            self._connect()

    def _connect(self) -> None:
        try:
            self._conn = self._listen()
        except Exception as exc:
            delay = RELISTEN_SECONDS[min(self._failures, len(RELISTEN_SECONDS) - 1)]
            self._failures += 1
            self._retry_at = time.monotonic() + delay
            logger.warning(
                "LISTEN unavailable (%s); polling, retrying in %.1fs",
                type(exc).__name__,
                delay,
                extra=log_extra("listen_unavailable"),
            )
        else:
            if self._failures:
                logger.info("LISTEN restored", extra=log_extra("listen_restored"))
            self._failures = 0

    def _listen(self) -> Any:
        import psycopg

        params = connections[self.using].get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        conn = psycopg.connect(**params, autocommit=True)
        try:
            conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        except BaseException:
            conn.close()
            raise
        return conn

    @property
    def listening(self) -> bool:
        """``True`` while NOTIFY can wake this waiter."""
        return self._conn is not None

    def wait(self, timeout: float, stopping: threading.Event) -> None:
        self.woken_by_ready = False
        if self._listening and self._conn is None and time.monotonic() >= self._retry_at:
            self._connect()
        if self._conn is None:
            stopping.wait(timeout)
            return
        try:
            woken = self._first_notification(timeout, stopping)
            payloads = set()
            if woken is not None:
                # Coalesce: notifications queued while the worker was busy (one per job enqueued)
                # are all answered by the claim that follows, not by one idle pass each.
                payloads.add(woken.payload)
                for drained in itertools.islice(self._conn.notifies(timeout=0), MAX_DRAINED):
                    payloads.add(drained.payload)
            self.woken_by_ready = bool(payloads) and LATER_PAYLOAD not in payloads
        except Exception as exc:
            logger.warning(
                "LISTEN connection failed (%s); polling until it is back",
                type(exc).__name__,
                extra=log_extra("listen_failed"),
            )
            self.close()
            self._retry_at = time.monotonic() + RELISTEN_SECONDS[0]
            stopping.wait(min(timeout, RELISTEN_SECONDS[0]))

    def _first_notification(self, timeout: float, stopping: threading.Event) -> Any:
        """The first notification within ``timeout``, or ``None``; gives up soon after ``stopping`` is set."""
        deadline = time.monotonic() + timeout
        while not stopping.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            notifications = self._conn.notifies(timeout=min(remaining, STOP_CHECK_SECONDS), stop_after=1)
            try:
                woken = next(notifications, None)
            finally:
                notifications.close()  # releases the connection's lock for the drain that follows
            if woken is not None:
                return woken
        return None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                logger.debug("Closing the LISTEN connection failed", exc_info=True)
            finally:
                self._conn = None
