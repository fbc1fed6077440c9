"""Control-plane CRUD: endpoints, rules (+ ``test/``), schedules; writes go through :mod:`..services`."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api import rule_testing, services
from django_automate.api.schema import api_schema
from django_automate.api.serializers.endpoints import EndpointSerializer
from django_automate.api.serializers.rules import RuleSerializer, RuleTestResultSerializer, RuleTestSerializer
from django_automate.api.serializers.schedules import ScheduleSerializer
from django_automate.api.views.base import TenantViewSet
from django_automate.models import Event, RuleSpec, Schedule, WebhookEndpoint
from django_automate.policy import raw
from django_automate.rules import services as rule_services


class CrudViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    TenantViewSet,
):
    """List, retrieve, create, update, delete; each write audited by :mod:`django_automate.api.services`."""

    def perform_create(self, serializer: Any) -> None:
        serializer.instance = services.create(
            self.model, dict(serializer.validated_data), tenant=self.tenant, actor=self.actor
        )

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.update(serializer.instance, dict(serializer.validated_data), actor=self.actor)

    def perform_destroy(self, instance: Any) -> None:
        services.delete(instance, actor=self.actor)


class EndpointViewSet(CrudViewSet):
    model = WebhookEndpoint
    permission_model = WebhookEndpoint
    serializer_class = EndpointSerializer


class ScheduleViewSet(CrudViewSet):
    model = Schedule
    permission_model = Schedule
    serializer_class = ScheduleSerializer


class RuleViewSet(CrudViewSet):
    """Writes go through :mod:`django_automate.rules.services` (validation, version bump, audit)."""

    model = RuleSpec
    permission_model = RuleSpec
    action_permissions = {"test": ("automate.view_rulespec",)}
    serializer_class = RuleSerializer

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("workflow")

    def perform_create(self, serializer: Any) -> None:
        rule = RuleSpec(tenant=self.tenant, **serializer.validated_data)
        serializer.instance = rule_services.save_rule(rule, actor=self.actor)

    def perform_update(self, serializer: Any) -> None:
        rule = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(rule, name, value)
        serializer.instance = rule_services.save_rule(rule, actor=self.actor)

    def perform_destroy(self, instance: Any) -> None:
        rule_services.delete_rule(instance, actor=self.actor)

    @api_schema(request=RuleTestSerializer, responses={200: RuleTestResultSerializer})
    @action(detail=False, methods=["post"], url_path="test")
    def test(self, request: Request) -> Response:
        """Explain which rules match an event (stored or sample) and which sub-expression decided it.

        Without ``rule``/``rule_id`` every enabled rule of your tenant is tried. Against a stored
        event, a rule whose condition reads a sensitive key (or the whole payload when it has
        one) needs ``automate.view_raw_payload`` (403 ``permission_denied`` naming the path);
        with it, the test is audited as a raw view of the event. Explanations over
        ``MAX_EXPLANATION_BYTES`` (1 MB) are refused (``explanation_too_large``).
        """
        body = RuleTestSerializer(data=request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        values = body.validated_data
        event, redacted = None, False
        if "event_id" in values:
            if not request.user.has_perm("automate.view_event"):
                raise exceptions.PermissionDenied(
                    "Testing against a stored event needs automate.view_event.",
                    details={"required": ["automate.view_event"]},
                )
            event = self._tenant_row(Event, values["event_id"], "Event")
            redacted = not raw.can_view_raw(request.user)
        if "rule_id" in values:
            rules = [self._tenant_row(RuleSpec, values["rule_id"], "Rule")]
        elif "rule" in values:
            rules = [rule_testing.draft_rule(values["rule"], self.tenant)]
        else:
            rules = list(self.get_queryset().filter(enabled=True))
        results = rule_testing.check_rules(
            tenant=self.tenant,
            rules=rules,
            event=event,
            sample=values.get("event"),
            redacted=redacted,
            user=request.user,
        )
        return Response({"matched": any(r["matched"] for r in results), "redacted": redacted, "results": results})

    def _tenant_row(self, model: Any, pk: Any, name: str) -> Any:
        row = model._default_manager.filter(tenant=self.tenant, pk=pk).first()
        if row is None:
            raise exceptions.ResourceNotFound(f"{name} {pk} does not exist.", details={"id": str(pk)})
        return row
