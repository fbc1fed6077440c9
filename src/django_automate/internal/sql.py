"""The execution plane's hot statements, without the ORM's per-call query building.

Building a query with the ORM costs about 0.3 ms of CPU per statement (``bench/hotspots.py``),
as much as the statement's round trip: with a dozen writes per event, the worker spent more
time composing SQL than waiting for the database. These helpers write the same SQL for the
simple shapes the worker repeats (an ``UPDATE`` by primary key with equality, ``IN`` and
``>`` conditions; a one-row ``INSERT``), build its text once per shape and prepare every value
with its field's own ``get_db_prep_save``/``get_db_prep_value``, exactly as the ORM does:
JSON, UUIDs and datetimes are stored identically on every backend.

They send no model signals: :func:`insert` falls back to ``save()`` when a ``pre_save`` or
``post_save`` receiver listens to the model.
"""

from __future__ import annotations

import threading
from importlib import import_module
from typing import Any

from django.db import connections
from django.db.models import Field, Model
from django.db.models.options import Options
from django.db.models.signals import post_save, pre_save
from django.db.models.sql import InsertQuery

#: ``field__op`` suffixes that :func:`update` understands.
_OPERATORS = {"": "=", "gt": ">", "lt": "<", "in": "IN"}


class _DatabaseNow:
    """A condition's value that is the database server's clock when the statement runs."""

    def __repr__(self) -> str:
        return "DATABASE_NOW"


#: ``{"lease_expires_at__gt": DATABASE_NOW}``: compared with the server's time of the statement,
#: not with a time the worker read before sending it (a statement can arrive seconds later).
DATABASE_NOW = _DatabaseNow()
#: The server's current time in each backend, in the form Django stores aware datetimes (UTC).
_NOW_SQL = {
    "postgresql": "STATEMENT_TIMESTAMP()",
    "mysql": "UTC_TIMESTAMP(6)",
    "sqlite": "STRFTIME('%%Y-%%m-%%d %%H:%%M:%%f', 'NOW')",
}

_texts: dict[tuple[Any, ...], str] = {}
_lock = threading.Lock()


def hot_cursor(using: str) -> Any:
    """A cursor for the hot statements: prepared by PostgreSQL when the project allows prepared statements.

    Django's psycopg 3 cursors bind values on the client and are never prepared, and Django
    turns psycopg's prepared statements off unless ``OPTIONS["prepare_threshold"]`` is set
    (connection poolers in transaction mode cannot keep them). Where it is set, these
    statements go through a server-binding cursor instead, which psycopg prepares once they
    ran that many times: PostgreSQL then skips planning them, most of their cost. Elsewhere
    this is the connection's ordinary cursor. Either way it is Django's cursor wrapper, with
    its error translation, query logging and ``execute_wrapper`` hooks.
    """
    connection = connections[using]
    if (
        connection.vendor != "postgresql"
        or connection.settings_dict.get("OPTIONS", {}).get("prepare_threshold") is None
    ):
        return connection.cursor()
    backend: Any = import_module("django.db.backends.postgresql.base")
    if not backend.is_psycopg3:
        return connection.cursor()
    connection.ensure_connection()
    with connection.wrap_database_errors:
        raw = backend.ServerBindingCursor(connection.connection)
    connection.validate_thread_sharing()
    wrap: Any = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    return wrap(raw)


def update(model: type[Model], using: str, where: dict[str, Any], values: dict[str, Any]) -> int:
    """``model.objects.using(using).filter(**where).update(**values)`` for plain values; rows matched.

    ``where`` keys are ``field`` (equality), ``field__gt``, ``field__lt`` or ``field__in`` (a
    non-empty tuple or list); a ``__gt``/``__lt`` value may be :data:`DATABASE_NOW`. ``values``
    are plain values, no expressions.
    """
    text, params = update_sql(model, using, where, values)
    with hot_cursor(using) as cursor:
        cursor.execute(text, params)
        return int(cursor.rowcount)


def update_sql(model: type[Model], using: str, where: dict[str, Any], values: dict[str, Any]) -> tuple[str, list[Any]]:
    """The statement :func:`update` runs, with its values; it ends with its ``WHERE`` conditions."""
    connection = connections[using]
    meta = model._meta
    shape = ("update", model, connection.vendor, tuple(values), _condition_shape(where))
    text = _texts.get(shape)
    if text is None:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(_column(meta, name))} = %s" for name in values)
        text = f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {_conditions(model, using, where)}"
        with _lock:
            _texts[shape] = text
    params: list[Any] = [_field(meta, name).get_db_prep_save(value, connection) for name, value in values.items()]
    return text, params + _condition_params(model, using, where)


def exists_sql(model: type[Model], using: str, where: dict[str, Any]) -> tuple[str, list[Any]]:
    """``SELECT 1 FROM <table> WHERE …`` with the conditions :func:`update` understands, and their values."""
    connection = connections[using]
    shape = ("exists", model, connection.vendor, _condition_shape(where))
    text = _texts.get(shape)
    if text is None:
        text = (
            f"SELECT 1 FROM {connection.ops.quote_name(model._meta.db_table)} WHERE {_conditions(model, using, where)}"
        )
        with _lock:
            _texts[shape] = text
    return text, _condition_params(model, using, where)


def _condition_shape(where: dict[str, Any]) -> tuple[tuple[str, str, int], ...]:
    shape = []
    for key, value in where.items():
        name, _, op = key.partition("__")
        shape.append((name, op, len(value) if op == "in" else -1 if value is DATABASE_NOW else 0))
    return tuple(shape)


def _conditions(model: type[Model], using: str, where: dict[str, Any]) -> str:
    connection = connections[using]
    quote = connection.ops.quote_name
    tests = []
    for name, op, count in _condition_shape(where):
        placeholder = f"({', '.join(['%s'] * count)})" if op == "in" else "%s"
        if count == -1:
            placeholder = _NOW_SQL[connection.vendor]
        tests.append(f"{quote(_column(model._meta, name))} {_OPERATORS[op]} {placeholder}")
    return " AND ".join(tests)


def _condition_params(model: type[Model], using: str, where: dict[str, Any]) -> list[Any]:
    connection = connections[using]
    params: list[Any] = []
    for key, value in where.items():
        field = _field(model._meta, key.partition("__")[0])
        if key.endswith("__in"):
            params.extend(field.get_db_prep_value(item, connection, prepared=False) for item in value)
        elif value is DATABASE_NOW:
            continue
        else:
            params.append(field.get_db_prep_value(value, connection, prepared=False))
    return params


def insert(obj: Model, using: str) -> None:
    """``obj.save(using=using, force_insert=True)`` in one statement; an auto primary key is read back."""
    model = type(obj)
    if has_save_receivers(model):
        obj.save(using=using, force_insert=True)
        return
    connection = connections[using]
    meta = obj._meta
    sql, params = insert_sql(obj, using)
    with hot_cursor(using) as cursor:
        if meta.auto_field is None or obj.pk is not None:
            cursor.execute(sql, params)
        elif connection.vendor == "postgresql":
            cursor.execute(f"{sql} RETURNING {connection.ops.quote_name(_column(meta, meta.pk.name))}", params)
            obj.pk = cursor.fetchone()[0]
        else:
            cursor.execute(sql, params)
            obj.pk = cursor.lastrowid  # MySQL/MariaDB and SQLite report the generated key
    obj._state.adding = False
    obj._state.db = using


def has_save_receivers(model: type[Model]) -> bool:
    """Whether a ``pre_save`` or ``post_save`` receiver listens to ``model`` (the helpers here send neither)."""
    return pre_save.has_listeners(model) or post_save.has_listeners(model)


def insert_sql(obj: Model, using: str) -> tuple[str, list[Any]]:
    """The ``INSERT`` that ``obj.save()`` would run (an unset auto primary key left to the database), with its values.

    Each field's ``pre_save`` runs (``auto_now_add`` and the like), as in ``save()``.
    """
    connection = connections[using]
    meta = obj._meta
    fields = [
        field
        for field in meta.local_concrete_fields
        if not (field is meta.auto_field and obj.pk is None) and not getattr(field, "generated", False)
    ]
    shape = ("insert", type(obj), connection.vendor, tuple(field.attname for field in fields))
    text = _texts.get(shape)
    if text is None:
        query = InsertQuery(type(obj))
        query.insert_values(fields, [obj])
        [(text, params)] = query.get_compiler(using=using).as_sql()
        with _lock:
            _texts[shape] = text
        return text, list(params)
    return text, [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def insert_select_sql(obj: Model, using: str) -> tuple[str, list[Any]]:
    """``INSERT INTO … SELECT CAST(%s AS type), …`` of ``obj`` (primary key set), to append a ``WHERE`` to.

    The same values as :func:`insert_sql`; each cast to its column's type, since values
    selected rather than listed in ``VALUES`` are not typed by their target column.
    """
    connection = connections[using]
    meta = obj._meta
    fields = [field for field in meta.local_concrete_fields if not getattr(field, "generated", False)]
    shape = ("insert_select", type(obj), connection.vendor)
    text = _texts.get(shape)
    if text is None:
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(field.column)) for field in fields)
        casts = ", ".join(f"CAST(%s AS {field.cast_db_type(connection)})" for field in fields)
        text = f"INSERT INTO {quote(meta.db_table)} ({columns}) SELECT {casts}"
        with _lock:
            _texts[shape] = text
    return text, [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields]


def _field(meta: Options[Any], name: str) -> Field[Any, Any]:
    field = meta.get_field(name)
    assert isinstance(field, Field), name
    return field


def _column(meta: Options[Any], name: str) -> str:
    return str(_field(meta, name).column)
