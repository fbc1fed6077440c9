"""The database triggers that keep ``automate_auditentry`` append-only, and the one sanctioned way around them.

Migration ``0002`` installs the triggers (see docs/governance.md for what each backend can
enforce). :func:`suspended` lifts them for one connection while Django's ``flush`` empties
the whole database (Django's test framework flushes between transactional tests):

- PostgreSQL: the triggers are disabled inside one transaction with the flush, so no other
  session ever sees the table unguarded.
- SQLite: the triggers are dropped and recreated inside one transaction with the flush.
- MySQL/MariaDB: DDL commits implicitly, so the DELETE trigger instead honours the session
  variable ``@automate_audit_maintenance``, set for this connection only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from importlib import import_module

from django.apps import apps
from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

TABLE = "automate_auditentry"
PREFIX = "automate_auditentry_"
MYSQL_MAINTENANCE_VARIABLE = "@automate_audit_maintenance"
MIGRATION_MODULE = "django_automate.migrations.0002_audit_append_only"


def reinstall(using: str = "default") -> list[str]:
    """Drop and recreate the guard triggers exactly as migration 0002 does; return their names.

    For a database whose triggers were removed by hand or lost when a later schema change
    rebuilt the table (SQLite rebuilds tables for most ALTERs).
    """
    migration = import_module(MIGRATION_MODULE)
    connection = connections[using]
    with connection.schema_editor(atomic=connection.features.can_rollback_ddl) as editor:
        migration.uninstall(apps, editor)
        migration.install(apps, editor)
    return trigger_names(connection)


def trigger_names(connection: BaseDatabaseWrapper, *, enabled_only: bool = False) -> list[str]:
    """Names of the guard triggers installed on the audit table (PostgreSQL: optionally only enabled ones)."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE tgrelid = to_regclass(%s) AND NOT tgisinternal"
                + (" AND tgenabled <> 'D'" if enabled_only else ""),
                [TABLE],
            )
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT trigger_name FROM information_schema.triggers "
                "WHERE event_object_schema = DATABASE() AND event_object_table = %s",
                [TABLE],
            )
        elif connection.vendor == "sqlite":
            cursor.execute("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
        else:
            return []
        return sorted(str(row[0]) for row in cursor.fetchall() if str(row[0]).startswith(PREFIX))


def sqlite_definitions(connection: BaseDatabaseWrapper) -> dict[str, str]:
    """``{name: CREATE TRIGGER …}`` of the guard triggers on SQLite, to recreate them exactly."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = %s", [TABLE])
        return {str(name): str(sql) for name, sql in cursor.fetchall() if str(name).startswith(PREFIX)}


@contextlib.contextmanager
def suspended(using: str = "default") -> Iterator[None]:
    """Let this connection empty the audit table for the duration of the block (a database reset)."""
    connection = connections[using]
    if connection.vendor == "mysql":
        with connection.cursor() as cursor:
            cursor.execute(f"SET {MYSQL_MAINTENANCE_VARIABLE} = 1")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute(f"SET {MYSQL_MAINTENANCE_VARIABLE} = NULL")
        return
    if connection.vendor not in ("postgresql", "sqlite"):
        yield
        return
    table = connection.ops.quote_name(TABLE)
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            names = trigger_names(connection, enabled_only=True)
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {connection.ops.quote_name(name)}")
            yield
            with connection.cursor() as cursor:
                for name in names:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {connection.ops.quote_name(name)}")
        else:
            definitions = sqlite_definitions(connection)
            with connection.cursor() as cursor:
                for name in definitions:
                    cursor.execute(f"DROP TRIGGER {connection.ops.quote_name(name)}")
            yield
            with connection.cursor() as cursor:
                for sql in definitions.values():
                    cursor.execute(sql)
