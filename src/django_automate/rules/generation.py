"""The per-tenant routing generations: read in one tiny query, bumped by database triggers.

Migration ``0004`` installs triggers on ``automate_rulespec`` and ``automate_workflow`` that
bump the tenant's :class:`~django_automate.models.RuleGeneration` row in the same transaction
as any write to its rules or workflows. Routing reads that row by its unique key (:func:`read`)
to know whether what it cached is current. The check ``automate.W090`` warns when the
triggers are missing (removed by hand, or lost when SQLite rebuilt a table for a later schema
change); :func:`reinstall` puts them back.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from importlib import import_module
from typing import NamedTuple

from django.apps import apps
from django.core.checks import CheckMessage, Warning
from django.db import DatabaseError, connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.recorder import MigrationRecorder

from django_automate.internal import sql
from django_automate.models import RuleGeneration

MIGRATION = ("automate", "0004_rule_generation")
MIGRATION_MODULE = "django_automate.migrations.0004_rule_generation"
TABLES = ("automate_rulespec", "automate_workflow")
PREFIXES = ("automate_rulespec_generation_", "automate_workflow_generation_")
#: Triggers per backend: INSERT, UPDATE, DELETE of both tables, the rules' version bump (and
#: TRUNCATE of both on PostgreSQL).
EXPECTED = {"postgresql": 9, "mysql": 7, "sqlite": 7}


class Generations(NamedTuple):
    """A tenant's generations; ``None`` until its rules (or workflows) are first written."""

    rules: int | None
    workflows: int | None


NONE = Generations(None, None)


def read(tenant: str, *, using: str = "default") -> Generations:
    """The tenant's current generations.

    Plain SQL: this runs on every routing, and building the ORM query would cost more than
    running it.
    """
    connection = connections[using]
    table = connection.ops.quote_name(RuleGeneration._meta.db_table)
    with sql.hot_cursor(using) as cursor:
        cursor.execute(f"SELECT generation, workflow_generation FROM {table} WHERE tenant = %s", [tenant])
        row = cursor.fetchone()
    return NONE if row is None else Generations(int(row[0]), int(row[1]))


#: A stamp that is current for no generation (a cache marked stale).
STALE = object()


class Pending:
    """The stamp of something cached inside a transaction, which may have read its own uncommitted writes.

    It is current only in that transaction (while its ``on_commit`` hook is still queued) or
    once the transaction committed. After a rollback, what it cached must not be trusted at
    all: the generations and versions it saw were undone, and later commits may reuse them.
    """

    __slots__ = ("committed", "connection", "value")

    def __init__(self, connection: BaseDatabaseWrapper, value: Hashable) -> None:
        self.connection = connection
        self.value = value
        self.committed = False

    def confirm(self) -> None:
        self.committed = True

    def trusted(self, connection: BaseDatabaseWrapper) -> bool:
        """Committed, or still inside the transaction (or savepoint) that made it."""
        if self.committed:
            return True
        return connection is self.connection and any(entry[1] == self.confirm for entry in connection.run_on_commit)


def stamp(value: Hashable, connection: BaseDatabaseWrapper) -> Hashable:
    """What a cache stores with data read after reading generation ``value`` (see :class:`Pending`)."""
    if not connection.in_atomic_block:
        return value
    pending = Pending(connection, value)
    transaction.on_commit(pending.confirm, using=connection.alias)
    return pending


def is_current(stored: Hashable, value: Hashable, connection: BaseDatabaseWrapper) -> bool:
    """Whether data stamped ``stored`` is current when the generation just read is ``value``."""
    if isinstance(stored, Pending):
        return stored.value == value and stored.trusted(connection)
    return stored is not STALE and stored == value


def trusted(stored: Hashable, connection: BaseDatabaseWrapper) -> bool:
    """Whether data stamped ``stored`` was committed (or is this transaction's own), even if no longer current."""
    return not isinstance(stored, Pending) or stored.trusted(connection)


def stale(stored: Hashable) -> Hashable:
    """``stored`` made current for no generation, still telling whether it can be trusted."""
    if isinstance(stored, Pending):
        stored.value = STALE
        return stored
    return STALE


def trigger_names(connection: BaseDatabaseWrapper) -> list[str]:
    """Names of the generation triggers installed on the rules and workflows tables."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger "
                "WHERE tgrelid IN (to_regclass(%s), to_regclass(%s)) AND NOT tgisinternal",
                list(TABLES),
            )
        elif connection.vendor == "mysql":
            cursor.execute(
                "SELECT trigger_name FROM information_schema.triggers "
                "WHERE event_object_schema = DATABASE() AND event_object_table IN (%s, %s)",
                list(TABLES),
            )
        elif connection.vendor == "sqlite":
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name IN (%s, %s)", list(TABLES)
            )
        else:
            return []
        return sorted(str(row[0]) for row in cursor.fetchall() if str(row[0]).startswith(PREFIXES))


def reinstall(using: str = "default") -> list[str]:
    """Drop and recreate the triggers exactly as migration 0004 does; return their names."""
    migration = import_module(MIGRATION_MODULE)
    connection = connections[using]
    with connection.schema_editor(atomic=connection.features.can_rollback_ddl) as editor:
        migration.uninstall(apps, editor)
        migration.install(apps, editor)
    return trigger_names(connection)


def trigger_messages(databases: Iterable[str] | None) -> list[CheckMessage]:
    """A warning for each checked database where migration 0004 ran but its triggers are missing."""
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
                    f"The triggers that bump the routing generations are missing on database {alias!r}: "
                    "rule and workflow changes made in other processes go unnoticed by routing.",
                    hint=(
                        "Reinstall them: manage.py shell -c "
                        '"from django_automate.rules import generation; generation.reinstall()" (docs/rules.md).'
                    ),
                    id="automate.W090",
                )
            )
    return messages
