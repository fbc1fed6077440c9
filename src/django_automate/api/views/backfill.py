"""``events/replay/``: dry-run a filter, start a backfill, follow it, cancel and resume it.

Everything needs ``automate.replay_event``. A filter's condition that reads sensitive keys needs
``automate.view_raw_payload`` too (403 ``permission_denied``, ``details.reason``
``reads_sensitive_key``), as ``POST rules/test/`` does, so that counts reveal nothing redacted.
"""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.schema import api_schema
from django_automate.api.serializers.backfill import BackfillRequestSerializer, BackfillSerializer, DryRunSerializer
from django_automate.api.serializers.events import EventSerializer
from django_automate.api.views.base import TenantViewSet
from django_automate.models import Backfill
from django_automate.policy import raw
from django_automate.runs.backfill import services

REPLAY = "automate.replay_event"


class BackfillViewSet(TenantViewSet):
    model = Backfill
    permission_model = Backfill
    permissions_required = (REPLAY,)
    serializer_class = BackfillSerializer

    @api_schema(
        operation_id="backfill_create",
        request=BackfillRequestSerializer,
        responses={
            200: OpenApiResponse(DryRunSerializer, description="dry_run true: what a backfill would do."),
            202: OpenApiResponse(BackfillSerializer, description="dry_run false: the backfill, queued."),
        },
    )
    def create(self, request: Request) -> Response:
        """Dry-run a filter (the default), or start a background backfill of its events (``dry_run: false``).

        The dry run counts the events, shows up to 10 (redacted; needs ``automate.view_event``) and,
        per workflow, how many runs the current rules would start against what ran for those events
        before. A backfill replays the events oldest first in batches, rate-limited by
        ``BACKFILL_EVENTS_PER_SECOND``; follow it at the URL it returns.
        """
        body = BackfillRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        redacted = not raw.can_view_raw(request.user)
        if values["dry_run"]:
            spec, report = services.preview(values["filter"], tenant=self.tenant, actor=self.actor, redacted=redacted)
            sample = report.sample if request.user.has_perm("automate.view_event") else []
            data = {
                "dry_run": True,
                "filter": spec.to_json(),
                "matched": report.matched,
                "scanned": report.scanned,
                "would_start": report.would_start,
                "workflows": [vars(forecast) for forecast in report.workflows],
                "sample": EventSerializer(sample, many=True).data,
                "seconds": round(report.seconds, 3),
            }
            return Response(DryRunSerializer(data).data)
        backfill = services.request(values["filter"], tenant=self.tenant, actor=self.actor, redacted=redacted)
        url = reverse("automate:api:backfill-detail", args=[backfill.pk])
        return Response(BackfillSerializer(backfill).data, status=status.HTTP_202_ACCEPTED, headers={"Location": url})

    @api_schema(operation_id="backfill_retrieve")
    def retrieve(self, request: Request, pk: str) -> Response:
        """A backfill's progress: status, cursor, events processed and runs started (by workflow)."""
        return Response(BackfillSerializer(self._backfill()).data)

    @api_schema(operation_id="backfill_cancel", request=None, responses={200: BackfillSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Stop the backfill after its current batch (409 ``conflict`` unless it is pending or running)."""
        return Response(BackfillSerializer(services.cancel(self._backfill(), actor=self.actor)).data)

    @api_schema(operation_id="backfill_resume", request=None, responses={200: BackfillSerializer})
    @action(detail=True, methods=["post"])
    def resume(self, request: Request, pk: str) -> Response:
        """Continue a cancelled or failed backfill from its cursor (409 ``conflict`` otherwise)."""
        return Response(BackfillSerializer(services.resume(self._backfill(), actor=self.actor)).data)

    def _backfill(self) -> Any:
        backfill = self.get_object()
        if services.needs_raw(backfill) and not raw.can_view_raw(self.request.user):
            raise exceptions.PermissionDenied(
                f"This backfill's filter may read raw values; following it needs {raw.PERMISSION}.",
                details={"required": [raw.PERMISSION], "reason": "reads_sensitive_key"},
            )
        return backfill
