"""``secrets/`` (metadata; values write-only, through the secret store), ``budgets/`` (+ usage), ``audit/``."""

from __future__ import annotations

from typing import Any

from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api.filters import AuditFilter, FilterBackend
from django_automate.api.pagination import AuditPagination
from django_automate.api.schema import api_schema
from django_automate.api.serializers.audit import AuditEntrySerializer
from django_automate.api.serializers.governance import BudgetSerializer, BudgetUsageSerializer, SecretSerializer
from django_automate.api.views.base import TenantViewSet
from django_automate.api.views.control import CrudViewSet
from django_automate.models import AuditEntry, Budget, Secret

MANAGE_SECRETS = ("automate.manage_secrets",)


class SecretViewSet(CrudViewSet):
    """Reading needs ``automate.view_secret``; every write needs ``automate.manage_secrets``."""

    model = Secret
    permission_model = Secret
    action_permissions = {
        "create": MANAGE_SECRETS,
        "update": MANAGE_SECRETS,
        "partial_update": MANAGE_SECRETS,
        "destroy": MANAGE_SECRETS,
    }
    serializer_class = SecretSerializer

    def perform_create(self, serializer: Any) -> None:
        from django_automate.secrets import store

        values = serializer.validated_data
        serializer.instance = store.put_secret(
            name=values["name"],
            value=values["value"],
            tenant=self.tenant,
            description=values.get("description", ""),
            actor=self.actor,
        )

    def perform_update(self, serializer: Any) -> None:
        """A secret keeps its name; an update stores a new value (and description)."""
        from django_automate.secrets import store

        secret: Secret = serializer.instance
        values = serializer.validated_data
        if values.get("name", secret.name) != secret.name:
            raise exceptions.ValidationError(
                "A secret cannot be renamed; create a new one.",
                details={"fields": {"name": ["A secret cannot be renamed."]}},
            )
        if "value" not in values:
            raise exceptions.ValidationError(
                "Send the secret's value to update it.", details={"fields": {"value": ["This field is required."]}}
            )
        serializer.instance = store.put_secret(
            name=secret.name,
            value=values["value"],
            tenant=self.tenant,
            description=values.get("description", secret.description),
            actor=self.actor,
        )

    def perform_destroy(self, instance: Any) -> None:
        from django_automate.secrets import store

        store.delete_secret(instance, actor=self.actor)


class BudgetViewSet(CrudViewSet):
    model = Budget
    permission_model = Budget
    serializer_class = BudgetSerializer

    @api_schema(responses={200: BudgetUsageSerializer})
    @action(detail=True, methods=["get"])
    def usage(self, request: Request, pk: str) -> Response:
        """Consumption in the budget's current window."""
        from django_automate.policy import budgets

        budget = self.get_object()
        return Response(BudgetUsageSerializer({"budget": budget.pk, **budgets.usage(budget)}).data)


class AuditViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Append-only: read, never written through the API."""

    model = AuditEntry
    permission_model = AuditEntry
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination
    filter_backends = [FilterBackend]
    filterset_class = AuditFilter
