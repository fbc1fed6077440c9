"""``connectors/`` (types, actions and their input schemas) and ``traces/<trace_id>/`` (the timeline)."""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.permissions import Authenticated
from django_automate.api.schema import api_schema
from django_automate.api.serializers.catalog import ConnectorSerializer, TraceSerializer
from django_automate.api.views.base import ApiView
from django_automate.models import AuditEntry, Event, ExecutionRun, StepRun
from django_automate.policy.redaction import redact
from django_automate.tracing.timeline import trace_timeline


def connectors() -> list[dict[str, Any]]:
    from django_automate.connectors import registry

    return [
        {
            "type": entry["type"],
            "description": entry.get("description", ""),
            "actions": [
                {
                    "name": a["name"],
                    "description": a.get("description", ""),
                    "input_schema": a.get("input_schema", {}),
                }
                for a in entry.get("actions", [])
            ],
            "error": entry.get("error"),
        }
        for entry in registry.describe_connectors()
    ]


class ConnectorListView(ApiView):
    """Every connector type a workflow step can use, with its actions and their input JSON Schemas."""

    permission_classes = [Authenticated]

    @api_schema(responses={200: ConnectorSerializer(many=True)}, operation_id="connectors_list")
    def get(self, request: Request) -> Response:
        return Response(connectors())


class ConnectorDetailView(ApiView):
    permission_classes = [Authenticated]

    @api_schema(responses={200: ConnectorSerializer}, operation_id="connectors_retrieve")
    def get(self, request: Request, type: str) -> Response:
        for connector in connectors():
            if connector["type"] == type:
                return Response(connector)
        raise exceptions.ResourceNotFound(f"Connector {type!r} does not exist.", details={"type": type})


class TraceView(ApiView):
    """The ordered timeline of one trace: events, runs (with the matching rule), step attempts, audit entries.

    Audit entries are part of it only for callers with ``automate.view_auditentry``.
    """

    permissions_required = ("automate.view_event", "automate.view_executionrun")

    @api_schema(responses={200: TraceSerializer}, operation_id="traces_retrieve")
    def get(self, request: Request, trace_id: str) -> Response:
        trace_id = str(uuid.UUID(trace_id))
        audit = bool(request.user.has_perm("automate.view_auditentry"))
        allowed = _tenant_rows(trace_id, self.tenant, audit=audit)
        entries = [entry for entry in trace_timeline(trace_id) if _key(entry) in allowed]
        if not entries:
            raise exceptions.ResourceNotFound(f"Trace {trace_id} does not exist.", details={"trace_id": trace_id})
        data = [{"kind": e.kind, "at": e.at, "data": redact(e.data)} for e in entries]
        return Response(TraceSerializer({"trace_id": trace_id, "entries": data}).data)


def _key(entry: Any) -> tuple[Any, ...]:
    if entry.kind == "audit":
        return ("audit", entry.at, entry.data.get("action"))
    return (entry.kind, str(entry.data.get("id")))


def _tenant_rows(trace_id: str, tenant: str, *, audit: bool) -> set[tuple[Any, ...]]:
    """Timeline keys of the caller's tenant (anyone can send a request carrying someone else's trace id);
    audit entries only with ``audit``."""
    rows: set[tuple[Any, ...]] = set()
    for kind, model in (("event", Event), ("run", ExecutionRun), ("step", StepRun)):
        ids = model._default_manager.filter(trace_id=trace_id, tenant=tenant).values_list("id", flat=True)
        rows.update((kind, str(pk)) for pk in ids)
    if audit:
        entries = AuditEntry.objects.filter(trace_id=trace_id, tenant=tenant).values_list("created_at", "action")
        rows.update(("audit", at, action) for at, action in entries)
    return rows
