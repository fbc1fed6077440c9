"""``workflows/``: create (version 1), edit metadata, publish new versions, list versions."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate import exceptions
from django_automate.api import services
from django_automate.api.schema import api_schema
from django_automate.api.serializers.workflows import (
    PublishSerializer,
    WorkflowCreateSerializer,
    WorkflowSerializer,
    WorkflowVersionSerializer,
)
from django_automate.api.views.base import TenantViewSet
from django_automate.models import Workflow
from django_automate.workflows import publishing


class WorkflowViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    TenantViewSet,
):
    model = Workflow
    permission_model = Workflow
    action_permissions = {"publish": ("automate.change_workflow",), "versions": ("automate.view_workflow",)}
    serializer_class = WorkflowSerializer
    lookup_field = "slug"
    lookup_value_regex = "[-a-zA-Z0-9_]+"

    def get_queryset(self) -> Any:
        return super().get_queryset().select_related("current_version")

    @api_schema(request=WorkflowCreateSerializer, responses={201: WorkflowSerializer})
    def create(self, request: Request) -> Response:
        """Create a workflow and publish its version 1."""
        body = WorkflowCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = body.validated_data
        if Workflow.objects.filter(tenant=self.tenant, slug=values["slug"]).exists():
            raise exceptions.Conflict(
                f"A workflow with slug {values['slug']!r} already exists.", details={"slug": values["slug"]}
            )
        try:
            workflow = publishing.create_workflow(
                slug=values["slug"],
                name=values["name"],
                description=values["description"],
                definition=values["definition"],
                tenant=self.tenant,
                author=self.actor,
            )
        except IntegrityError:
            raise exceptions.Conflict(
                f"A workflow with slug {values['slug']!r} already exists.", details={"slug": values["slug"]}
            ) from None
        headers = {"Location": f"{request.path}{workflow.slug}/"}
        return Response(WorkflowSerializer(workflow).data, status=status.HTTP_201_CREATED, headers=headers)

    def perform_update(self, serializer: Any) -> None:
        serializer.instance = services.update(serializer.instance, dict(serializer.validated_data), actor=self.actor)

    @api_schema(request=PublishSerializer, responses={201: WorkflowVersionSerializer})
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, slug: str) -> Response:
        """Validate the definition and publish it as the next, current version."""
        workflow = self.get_object()
        body = PublishSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        version = publishing.publish(workflow, body.validated_data["definition"], author=self.actor)
        return Response(WorkflowVersionSerializer(version).data, status=status.HTTP_201_CREATED)

    @api_schema(responses={200: WorkflowVersionSerializer(many=True)})
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, slug: str) -> Response:
        """Every version, newest first."""
        workflow = self.get_object()
        versions = workflow.versions.order_by("-number")
        return Response(WorkflowVersionSerializer(versions, many=True).data)
