"""Loading a run to execute it: the run, its event and workflow, and whether budgets may apply, in one query.

What ``ExecutionRun.objects.select_related("event", "workflow").annotate(automate_has_budgets=
budgets.presence()).get(id=…)`` returns, from SQL written once per database: building and
compiling that queryset cost about as much as the rest of a one-step execution
(``bench/hotspots.py``). Every value goes through the converters the ORM applies (the
backend's and the field's), so the instances are the same as the ORM's on every backend.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models import Field, Model

from django_automate.internal import sql
from django_automate.models import Budget, Event, ExecutionRun, Workflow
from django_automate.workflows.versions import get_version

_Converter = Callable[[Any, Any, Any], Any]
_MODELS: tuple[type[Model], ...] = (ExecutionRun, Event, Workflow)
_statements: dict[str, tuple[str, list[list[tuple[Field[Any, Any], list[_Converter]]]]]] = {}
_lock = threading.Lock()


def run_to_execute(run_id: UUID, *, using: str = "default") -> ExecutionRun:
    """The run with its event, workflow and (cached, immutable) version; raises ``ExecutionRun.DoesNotExist``."""
    connection = connections[using]
    text, columns = _statement(using)
    with sql.hot_cursor(using) as cursor:
        cursor.execute(text, [True, ExecutionRun._meta.pk.get_db_prep_value(run_id, connection)])
        row = cursor.fetchone()
    if row is None:
        raise ExecutionRun.DoesNotExist(f"No run {run_id}.")
    values = iter(row)
    instances = []
    for model, fields in zip(_MODELS, columns, strict=True):
        converted = []
        for field, converters in fields:
            value = next(values)
            for convert in converters:
                value = convert(value, field, connection)
            converted.append(value)
        instances.append(model.from_db(using, [field.attname for field, _ in fields], converted))
    run, event, workflow = instances
    assert isinstance(run, ExecutionRun) and isinstance(event, Event) and isinstance(workflow, Workflow)
    run.event, run.workflow = event, workflow
    run.workflow_version = get_version(run.workflow_version_id, using=using)
    run.automate_has_budgets = bool(next(values))  # type: ignore[attr-defined]
    return run


def _statement(using: str) -> tuple[str, list[list[tuple[Field[Any, Any], list[_Converter]]]]]:
    found = _statements.get(using)
    if found is not None:
        return found
    connection = connections[using]
    quote = connection.ops.quote_name
    aliases = ("r", "e", "w")
    selected, columns = [], []
    for model, alias in zip(_MODELS, aliases, strict=True):
        fields = []
        for field in model._meta.concrete_fields:
            col = field.get_col(alias)
            converters = connection.ops.get_db_converters(col) + col.get_db_converters(connection)
            fields.append((field, converters))
            selected.append(f"{alias}.{quote(str(field.column))}")
        columns.append(fields)
    tables: tuple[type[Model], ...] = (*_MODELS, Budget)
    run, event, workflow, budget = (quote(str(table._meta.db_table)) for table in tables)

    def column(model: type[Model], name: str) -> str:
        field = model._meta.get_field(name)
        assert isinstance(field, Field), name
        return quote(str(field.column))

    tenant, enabled, run_tenant = column(Budget, "tenant"), column(Budget, "enabled"), column(ExecutionRun, "tenant")
    # Budgets of the run's tenant or of every tenant (""), as budgets.presence() asks.
    has_budgets = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {budget} b WHERE (b.{tenant} = '' OR b.{tenant} = r.{run_tenant})"
        f" AND b.{enabled} = %s) THEN 1 ELSE 0 END"
    )
    text = (
        f"SELECT {', '.join(selected)}, {has_budgets} FROM {run} r"
        f" INNER JOIN {event} e ON e.{column(Event, 'id')} = r.{column(ExecutionRun, 'event')}"
        f" INNER JOIN {workflow} w ON w.{column(Workflow, 'id')} = r.{column(ExecutionRun, 'workflow')}"
        f" WHERE r.{column(ExecutionRun, 'id')} = %s"
    )
    with _lock:
        _statements[using] = (text, columns)
    return text, columns
