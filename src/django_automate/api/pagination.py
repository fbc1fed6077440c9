"""Keyset ("cursor") pagination, newest first, that stays exact while rows are inserted.

Rows are ordered by an immutable unique key (``(received_at, id)`` for events, ``(created_at,
id)`` for runs, ``seq`` for audit entries), descending. A cursor is an opaque token holding a
key position and a direction; ``next`` continues towards older rows, ``previous`` towards
newer ones and is always present, so a client can poll it for rows that arrived since.

Pages that reach towards new rows (the first page and every ``previous`` page) stop at the
safe horizon, and on MySQL/MariaDB every page is a locking read (see
:mod:`django_automate.api.horizon`), so a row whose transaction commits late can never land
behind a position a client has already passed: following ``next`` to the end and then
``previous`` until it is empty visits every row exactly once.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connections
from django.db.models import Model, Q, QuerySet
from django.utils import timezone
from rest_framework.pagination import BasePagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param

from django_automate import conf, exceptions
from django_automate.api.datetimes import comparable
from django_automate.api.horizon import locked_ids, safe_horizon

BIGINT = 2**63
#: Every cursor is URL-safe base64 of a JSON object starting '{"r":'.
CURSOR_PATTERN = r"^eyJyIjo[A-Za-z0-9_-]+$"


@dataclass(frozen=True)
class Position:
    """A row's key (``values``), or a time ``boundary`` (older: ``<= boundary``; newer: ``> boundary``)."""

    values: tuple[Any, ...] | None = None
    boundary: datetime | None = None
    reverse: bool = False


def _invalid(field: str, message: str) -> exceptions.ValidationError:
    return exceptions.ValidationError(f"{field}: {message}", details={"fields": {field: [message]}})


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


class KeysetPagination(BasePagination):
    """Subclasses set ``key_fields`` (last one unique) and whether the first is a pre-commit timestamp."""

    key_fields: tuple[str, ...] = ("id",)
    uses_horizon = False
    #: Query parameters that narrow a list to rows of one event or trace (no horizon then).
    narrowing_params: tuple[str, ...] = ()
    cursor_query_param = "cursor"
    #: The OpenAPI ``format`` of this list's cursors: only tokens from its own links are valid.
    cursor_format = "cursor"
    limit_query_param = "limit"

    def __init__(self) -> None:
        self.request: Request | None = None
        self.next_position: Position | None = None
        self.previous_position: Position | None = None

    # -- reading the request ------------------------------------------------------------
    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None or not raw.strip():  # sent empty (or blank): not given
            return conf.api_page_size()
        most = conf.api_max_page_size()
        try:
            limit = int(raw)
        except ValueError:
            raise _invalid(self.limit_query_param, "A valid integer is required.") from None
        if not 1 <= limit <= most:
            raise _invalid(self.limit_query_param, f"Must be between 1 and {most}.")
        return limit

    def _decode_value(self, model: type[Model], name: str, raw: Any) -> Any:
        kind = model._meta.get_field(name).get_internal_type()
        if kind == "DateTimeField":
            value = datetime.fromisoformat(raw)
            if timezone.is_aware(value) != bool(settings.USE_TZ):
                raise ValueError("time zone")
            return comparable(value)  # DateTimeOutOfRange is a ValueError: an invalid cursor
        if kind == "UUIDField":
            return uuid.UUID(raw)
        if type(raw) is not int or not -BIGINT <= raw < BIGINT:
            raise ValueError("integer")
        return raw

    def decode_cursor(self, request: Request, model: type[Model]) -> Position | None:
        token = request.query_params.get(self.cursor_query_param)
        if not token or not token.strip():  # sent empty (or blank): not given
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
            reverse = data["r"]
            if reverse not in (0, 1):
                raise ValueError("direction")
            if "b" in data and self.uses_horizon:
                boundary = self._decode_value(model, self.key_fields[0], data["b"])
                return Position(boundary=boundary, reverse=bool(reverse))
            raw = data["k"]
            if not isinstance(raw, list) or len(raw) != len(self.key_fields):
                raise ValueError("key")
            values = tuple(self._decode_value(model, n, v) for n, v in zip(self.key_fields, raw, strict=True))
            return Position(values=values, reverse=bool(reverse))
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError, AttributeError):
            raise _invalid(self.cursor_query_param, "The cursor is not valid.") from None

    def encode_cursor(self, position: Position) -> str:
        data: dict[str, Any] = {"r": int(position.reverse)}
        if position.values is not None:
            data["k"] = [_jsonable(v) for v in position.values]
        else:
            data["b"] = _jsonable(position.boundary)
        raw = json.dumps(data, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    # -- paging ---------------------------------------------------------------------------
    def _key(self, row: Model) -> tuple[Any, ...]:
        return tuple(getattr(row, name) for name in self.key_fields)

    def _beyond(self, values: tuple[Any, ...], newer: bool) -> Q:
        op = "gt" if newer else "lt"
        condition = Q()
        for index, name in enumerate(self.key_fields):
            equal = {self.key_fields[j]: values[j] for j in range(index)}
            condition |= Q(**equal, **{f"{name}__{op}": values[index]})
        return condition

    def paginate_queryset(self, queryset: Any, request: Request, view: Any = None) -> list[Any]:
        self.request = request
        limit = self.get_limit(request)
        position = self.decode_cursor(request, queryset.model)
        first = self.key_fields[0]
        horizon = None
        if self.uses_horizon and not self._narrowed(request) and (position is None or position.reverse):
            horizon = safe_horizon(queryset.db)
        if position is None:
            position = Position(boundary=horizon)
        if position.values is not None:
            queryset = queryset.filter(self._beyond(position.values, newer=position.reverse))
        elif position.boundary is not None:
            queryset = queryset.filter(**{f"{first}__{'gt' if position.reverse else 'lte'}": position.boundary})
        if position.reverse:
            return self._newer(queryset, position, horizon, limit)
        return self._older(queryset, position, limit)

    def _narrowed(self, request: Request) -> bool:
        """Filtered to one event or trace: its few rows are shown as soon as they commit.

        The horizon keeps paging over the whole table exact while other clients insert rows;
        one event's or trace's rows are few and written together (routing an event creates
        its runs in one transaction), so holding them back would only hide a finished run.
        """
        return any(request.query_params.get(name) for name in self.narrowing_params)

    def _rows(self, ordered: QuerySet[Any], limit: int) -> list[Any]:
        """The first ``limit + 1`` rows; on MySQL/MariaDB read so that rows still being inserted are waited for."""
        window = ordered[: limit + 1]
        if connections[ordered.db].vendor != "mysql":
            return list(window)
        pk = ordered.model._meta.pk
        assert pk is not None
        ids = [pk.to_python(raw) for raw in locked_ids(window)]
        found = {row.pk: row for row in ordered.filter(pk__in=ids)}
        return [found[i] for i in ids if i in found]

    def _older(self, queryset: QuerySet[Any], position: Position, limit: int) -> list[Any]:
        rows = self._rows(queryset.order_by(*(f"-{n}" for n in self.key_fields)), limit)
        page = rows[:limit]
        self.next_position = Position(values=self._key(page[-1])) if len(rows) > limit else None
        if page:
            self.previous_position = Position(values=self._key(page[0]), reverse=True)
        elif position.values is not None or position.boundary is not None:
            self.previous_position = Position(values=position.values, boundary=position.boundary, reverse=True)
        return page

    def _newer(self, queryset: QuerySet[Any], position: Position, horizon: datetime | None, limit: int) -> list[Any]:
        first = self.key_fields[0]
        if horizon is not None:
            queryset = queryset.filter(**{f"{first}__lte": horizon})
        rows = self._rows(queryset.order_by(*self.key_fields), limit)
        page = rows[:limit]
        if len(rows) > limit:
            self.previous_position = Position(values=self._key(page[-1]), reverse=True)
        else:
            # Everything up to the horizon is on this page; poll on from there (never move backwards).
            start = position.values[0] if position.values is not None else position.boundary
            if horizon is not None and (start is None or horizon > start):
                self.previous_position = Position(boundary=horizon, reverse=True)
            elif page:
                self.previous_position = Position(values=self._key(page[-1]), reverse=True)
            else:
                self.previous_position = position
        if page:
            self.next_position = Position(values=self._key(page[0]))
        else:
            self.next_position = Position(values=position.values, boundary=position.boundary)
        return list(reversed(page))

    # -- the response ---------------------------------------------------------------------
    def _link(self, position: Position | None) -> str | None:
        if position is None or self.request is None:
            return None
        url = self.request.build_absolute_uri()
        return replace_query_param(url, self.cursor_query_param, self.encode_cursor(position))

    def get_paginated_response(self, data: Any) -> Response:
        return Response(
            {"next": self._link(self.next_position), "previous": self._link(self.previous_position), "results": data}
        )

    def get_paginated_response_schema(self, schema: dict[str, Any]) -> dict[str, Any]:
        link = {"type": "string", "format": "uri", "nullable": True}
        return {
            "type": "object",
            "required": ["next", "previous", "results"],
            "properties": {
                "next": {**link, "description": "Older rows; null at the end."},
                "previous": {**link, "description": "Newer rows (poll it for rows that arrived since)."},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "Opaque position from a previous response's next/previous link"
                " (a token made up, or taken from another list, is refused with 400).",
                "schema": {"type": "string", "format": self.cursor_format, "pattern": CURSOR_PATTERN},
            },
            {
                "name": self.limit_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page (default {conf.api_page_size()}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": conf.api_max_page_size()},
            },
        ]


class EventPagination(KeysetPagination):
    key_fields = ("received_at", "id")
    uses_horizon = True
    narrowing_params = ("trace_id",)
    cursor_format = "event-cursor"


class RunPagination(KeysetPagination):
    key_fields = ("created_at", "id")
    uses_horizon = True
    narrowing_params = ("event", "trace_id")
    cursor_format = "run-cursor"


class TaskPagination(KeysetPagination):
    key_fields = ("enqueued_at", "id")
    uses_horizon = True
    narrowing_params = ("trace_id",)
    cursor_format = "task-cursor"


class AuditPagination(KeysetPagination):
    """``seq`` is allocated under a lock held until commit, so it already follows commit order."""

    key_fields = ("seq",)
    cursor_format = "audit-cursor"


class ApprovalPagination(KeysetPagination):
    """Pending approvals, newest first; a row is listed once its run waits, which commits with it."""

    key_fields = ("created_at", "id")
    cursor_format = "approval-cursor"
