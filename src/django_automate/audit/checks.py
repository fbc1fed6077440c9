"""Database check: the audit table's append-only triggers are in place (id automate.W041)."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

from django_automate.audit.guard import trigger_names

MIGRATION = ("automate", "0002_audit_append_only")
EXPECTED = {
    "postgresql": 2,  # UPDATE/DELETE, TRUNCATE
    "mysql": 2,  # UPDATE, DELETE
    "sqlite": 2,  # UPDATE, DELETE
}


def trigger_messages(databases: Iterable[str] | None) -> list[CheckMessage]:
    """A warning for each checked database where the triggers were removed (or lost by a table rebuild)."""
    messages: list[CheckMessage] = []
    for alias in databases or ():
        connection = connections[alias]
        expected = EXPECTED.get(connection.vendor)
        if expected is None:
            continue
        try:
            if MIGRATION not in MigrationRecorder(connection).applied_migrations():
                continue
            installed = len(trigger_names(connection))
        except DatabaseError:
            continue
        if installed < expected:
            messages.append(
                Warning(
                    f"The append-only triggers of the audit log are missing on database {alias!r}.",
                    hint=(
                        "Reinstall them: manage.py shell -c "
                        '"from django_automate.audit import guard; guard.reinstall()" (docs/governance.md).'
                    ),
                    id="automate.W041",
                )
            )
    return messages
