"""Checks of the audit log: its settings (automate.E045, E046, W045) and, as a database check,
its append-only triggers (automate.W041)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, connections
from django.db.migrations.recorder import MigrationRecorder

from django_automate.audit import keys
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


KEY_HINT = "Generate a key with: python -c 'import secrets; print(secrets.token_urlsafe(32))' (docs/governance.md)."


def missing_key_messages() -> list[CheckMessage]:
    """``check --deploy``: ``AUDIT_KEYS`` set (W045). A deploy check, so that every command does not repeat it."""
    user = getattr(settings, "AUTOMATE", None)
    if isinstance(user, dict) and user.get("AUDIT_KEYS"):
        return []
    return [
        Warning(
            "AUTOMATE['AUDIT_KEYS'] is not set: the audit chain is unkeyed, so a database role that can "
            "write the audit table can rewrite or extend it without verify-audit noticing.",
            hint="Tamper-evidence against the database role requires AUDIT_KEYS. " + KEY_HINT,
            id="automate.W045",
        )
    ]


def setting_messages() -> list[CheckMessage]:
    """``AUDIT_KEYS`` usable (E045); ``AUDIT_CHECKPOINT_EVERY`` a whole number (E046)."""
    user = getattr(settings, "AUTOMATE", None)
    if not isinstance(user, dict):
        return []
    messages: list[CheckMessage] = []
    if user.get("AUDIT_KEYS"):
        messages.extend(
            Error(f"AUTOMATE['AUDIT_KEYS']: {problem}.", hint=KEY_HINT, id="automate.E045")
            for problem in keys.problems(user["AUDIT_KEYS"])
        )
    every = user.get("AUDIT_CHECKPOINT_EVERY", 0)
    if isinstance(every, bool) or not isinstance(every, int) or every < 0:
        messages.append(
            Error(
                "AUTOMATE['AUDIT_CHECKPOINT_EVERY'] must be a whole number, 0 or more.",
                hint="0 writes checkpoints only when manage.py automate audit-checkpoint runs.",
                id="automate.E046",
            )
        )
    return messages
