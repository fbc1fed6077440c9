"""``events/``: list, retrieve (redacted; raw with a permission, audited), create, replay."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.filters import EventFilter, FilterBackend
from django_automate.api.pagination import EventPagination
from django_automate.api.schema import api_schema
from django_automate.api.serializers.events import (
    EventCreateSerializer,
    EventSerializer,
    RawEventSerializer,
    ReplayResultSerializer,
)
from django_automate.api.views.base import TenantViewSet
from django_automate.audit import log as audit
from django_automate.ingestion.events import MAX_KEY_LENGTH, record_event
from django_automate.internal.jsonutil import canonical_json, sha256_hex
from django_automate.models import Event, ExecutionRun
from django_automate.tracing import context

RAW = OpenApiParameter(
    "raw",
    OpenApiTypes.BOOL,
    description="Unredacted payload and headers; needs automate.view_raw_payload and is audited.",
)
IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    description="Makes retries safe: the same key and body return the original event (200).",
)
VIEW_RAW = "automate.view_raw_payload"


def run_ref(run: ExecutionRun) -> dict[str, Any]:
    return {
        "id": str(run.id),
        "workflow": run.workflow.slug,
        "version": run.workflow_version.number,
        "status": run.status,
    }


class EventViewSet(TenantViewSet):
    model = Event
    permission_model = Event
    action_permissions = {"replay": ("automate.replay_event",)}
    serializer_class = EventSerializer
    pagination_class = EventPagination
    filter_backends = [FilterBackend]
    filterset_class = EventFilter

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("endpoint")

    def _raw(self) -> bool:
        field = serializers.BooleanField()
        try:
            raw = field.to_internal_value(self.request.query_params.get("raw", "false"))
        except serializers.ValidationError:
            raise exceptions.ValidationError(
                "raw: Must be true or false.", details={"fields": {"raw": ["Must be true or false."]}}
            ) from None
        if raw and not self.request.user.has_perm(VIEW_RAW):
            raise exceptions.PermissionDenied(f"You need the permission {VIEW_RAW}.", details={"required": [VIEW_RAW]})
        return bool(raw)

    def _audit_raw(self, events: list[Event]) -> None:
        audit.record(
            "raw_payload.viewed",
            actor=self.actor,
            object_type="event",
            object_id=str(events[0].id) if len(events) == 1 else "",
            tenant=self.tenant,
            data={"events": [str(e.id) for e in events]},
        )

    @api_schema(parameters=[RAW])
    def list(self, request: Request) -> Response:
        raw = self._raw()
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        assert page is not None
        if raw and page:
            self._audit_raw(page)
        serializer = (RawEventSerializer if raw else EventSerializer)(page, many=True)
        return self.get_paginated_response(serializer.data)

    @api_schema(parameters=[RAW])
    def retrieve(self, request: Request, pk: str) -> Response:
        raw = self._raw()
        event = self.get_object()
        if raw:
            self._audit_raw([event])
        return Response((RawEventSerializer if raw else EventSerializer)(event).data)

    @api_schema(
        request=EventCreateSerializer,
        parameters=[IDEMPOTENCY_KEY],
        responses={
            201: EventSerializer,
            200: OpenApiResponse(EventSerializer, description="Duplicate: the event first created with this key."),
        },
    )
    def create(self, request: Request) -> Response:
        """Record an event (source "api") and its routing job, like a webhook delivery."""
        body = EventCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        event_type, payload = body.validated_data["type"], body.validated_data["payload"]
        recorded = record_event(
            type=event_type,
            payload=payload,
            source="api",
            tenant=self.tenant,
            idempotency_key=request.headers.get("Idempotency-Key"),
            body_sha256=sha256_hex(canonical_json({"type": event_type, "payload": payload})),
            trace_id=context.current_trace_id(),
        )
        headers = {"Location": f"{request.path}{recorded.event.id}/"}
        if recorded.duplicate:
            headers["Idempotent-Replayed"] = "true"
        code = status.HTTP_200_OK if recorded.duplicate else status.HTTP_201_CREATED
        return Response(EventSerializer(recorded.event).data, status=code, headers=headers)

    @api_schema(request=None, responses={202: ReplayResultSerializer})
    @action(detail=True, methods=["post"])
    def replay(self, request: Request, pk: str) -> Response:
        """Run the workflows the event's rules match now again, as new runs (``replay_of``)."""
        from django_automate.runs import operations

        event = self.get_object()
        runs = operations.replay_event(event, actor=self.actor)
        data = {"event_id": str(event.id), "runs": [run_ref(run) for run in runs]}
        return Response(data, status=status.HTTP_202_ACCEPTED)
