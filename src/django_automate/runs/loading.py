"""Loading a run to execute it: the run, its event and workflow, and whether budgets may apply, in one query.

What ``ExecutionRun.objects.select_related("event", "workflow").annotate(automate_has_budgets=
budgets.presence()).get(id=…)`` returns, from SQL written once per database: building and
compiling that queryset cost about as much as the rest of a one-step execution
(``bench/hotspots.py``). Every value goes through the converters the ORM applies (the
backend's and the field's), so the instances are the same as the ORM's on every backend.

The same columns can be read by another statement (the claim of a run's job on PostgreSQL
reads them with the job it claims): :func:`columns` and :func:`joins` write its SQL,
:func:`from_values` builds the run from its row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.db import connections
from django.db.models import Field, Model

from django_automate.internal import sql
from django_automate.models import Budget, Event, ExecutionRun, Workflow
from django_automate.workflows.versions import get_version

_Converter = Callable[[Any, Any, Any], Any]
_MODELS: tuple[type[Model], ...] = (ExecutionRun, Event, Workflow)


@dataclass(frozen=True)
class _Shape:
    columns: str  # the SELECT list: run (alias r), event (e), workflow (w), then whether budgets may apply
    run_table: str
    joins: str  # event and workflow joined to r, with "{join}" for INNER or LEFT
    fields: list[list[tuple[Field[Any, Any], list[_Converter]]]]
    run_pk: int  # the position of the run's primary key among its fields: NULL where a LEFT JOIN found no run

    @property
    def width(self) -> int:
        return sum(len(fields) for fields in self.fields) + 1


_shapes: dict[str, _Shape] = {}
_lock = threading.Lock()


def run_to_execute(run_id: UUID, *, using: str = "default") -> ExecutionRun:
    """The run with its event, workflow and (cached, immutable) version; raises ``ExecutionRun.DoesNotExist``."""
    connection = connections[using]
    shape = _shape(using)
    text = (
        f"SELECT {shape.columns} FROM {shape.run_table} r {shape.joins.format(join='INNER JOIN')}"
        f" WHERE r.{_column(using, ExecutionRun, 'id')} = %s"
    )
    with sql.hot_cursor(using) as cursor:
        cursor.execute(text, [*column_params(), ExecutionRun._meta.pk.get_db_prep_value(run_id, connection)])
        row = cursor.fetchone()
    run = None if row is None else from_values(row, using=using)
    if run is None:
        raise ExecutionRun.DoesNotExist(f"No run {run_id}.")
    return run


def columns(using: str) -> str:
    """The SELECT list of a run to execute (aliases ``r``, ``e``, ``w``), with :func:`column_params`."""
    return _shape(using).columns


def column_params() -> list[Any]:
    return [True]


def joins(using: str, run_id: str) -> str:
    """``LEFT JOIN`` the run whose id is the SQL expression ``run_id`` (alias ``r``), its event and workflow."""
    shape = _shape(using)
    on = f"LEFT JOIN {shape.run_table} r ON r.{_column(using, ExecutionRun, 'id')} = {run_id}"
    return f"{on} {shape.joins.format(join='LEFT JOIN')}"


def width(using: str) -> int:
    """How many values :func:`columns` selects."""
    return _shape(using).width


def from_values(values: Sequence[Any], *, using: str) -> ExecutionRun | None:
    """The run of a row selected with :func:`columns`; ``None`` where it has none (a ``LEFT JOIN`` found no run)."""
    connection = connections[using]
    shape = _shape(using)
    remaining: Iterator[Any] = iter(values)
    instances = []
    for model, fields in zip(_MODELS, shape.fields, strict=True):
        converted = []
        for field, converters in fields:
            value = next(remaining)
            for convert in converters:
                value = convert(value, field, connection)
            converted.append(value)
        if model is ExecutionRun and converted[shape.run_pk] is None:
            return None
        instances.append(model.from_db(using, [field.attname for field, _ in fields], converted))
    run, event, workflow = instances
    assert isinstance(run, ExecutionRun) and isinstance(event, Event) and isinstance(workflow, Workflow)
    run.event, run.workflow = event, workflow
    run.workflow_version = get_version(run.workflow_version_id, using=using)
    run.automate_has_budgets = bool(next(remaining))  # type: ignore[attr-defined]
    return run


def _column(using: str, model: type[Model], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field), name
    return str(connections[using].ops.quote_name(str(field.column)))


def _shape(using: str) -> _Shape:
    found = _shapes.get(using)
    if found is not None:
        return found
    connection = connections[using]
    quote = connection.ops.quote_name
    selected, fields = [], []
    for model, alias in zip(_MODELS, ("r", "e", "w"), strict=True):
        own = []
        for field in model._meta.concrete_fields:
            col = field.get_col(alias)
            own.append((field, connection.ops.get_db_converters(col) + col.get_db_converters(connection)))
            selected.append(f"{alias}.{quote(str(field.column))}")
        fields.append(own)
    tables: tuple[type[Model], ...] = (*_MODELS, Budget)
    run, event, workflow, budget = (quote(str(table._meta.db_table)) for table in tables)
    tenant, enabled = _column(using, Budget, "tenant"), _column(using, Budget, "enabled")
    # Budgets of the run's tenant or of every tenant (""), as budgets.presence() asks.
    has_budgets = (
        f"CASE WHEN EXISTS (SELECT 1 FROM {budget} b WHERE (b.{tenant} = ''"
        f" OR b.{tenant} = r.{_column(using, ExecutionRun, 'tenant')}) AND b.{enabled} = %s) THEN 1 ELSE 0 END"
    )
    related = (
        f"{{join}} {event} e ON e.{_column(using, Event, 'id')} = r.{_column(using, ExecutionRun, 'event')}"
        f" {{join}} {workflow} w ON w.{_column(using, Workflow, 'id')} = r.{_column(using, ExecutionRun, 'workflow')}"
    )
    run_pk = [field for field, _ in fields[0]].index(ExecutionRun._meta.pk)
    shape = _Shape(f"{', '.join(selected)}, {has_budgets}", run, related, fields, run_pk)
    with _lock:
        _shapes[using] = shape
    return shape
