"""Waking idle workers on PostgreSQL: ``NOTIFY automate_jobs``, sent when the transaction commits."""

from __future__ import annotations

from django.db import connections

NOTIFY_CHANNEL = "automate_jobs"
#: The payload of a NOTIFY for a job that becomes claimable later (a retry, a delayed job);
#: other notifications carry the queue of a job claimable now.
LATER_PAYLOAD = "automate:later"


def notify(using: str, payload: str) -> None:
    """Wake the listening workers once the current transaction commits (PostgreSQL; a no-op elsewhere).

    ``payload`` is the queue of a job claimable now, or ``LATER_PAYLOAD``: idle workers then
    look again for the next moment something becomes due.
    """
    connection = connections[using]
    if connection.vendor == "postgresql":
        # NOTIFY is transactional: listeners hear it only if the job commits.
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, payload])
