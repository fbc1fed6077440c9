"""``runs/``: list, retrieve with every step attempt, retry from the failed step, cancel."""

from __future__ import annotations

from typing import Any

from rest_framework import status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate.api.filters import FilterBackend, RunFilter
from django_automate.api.pagination import RunPagination
from django_automate.api.schema import api_schema
from django_automate.api.serializers.runs import RunDetailSerializer, RunSerializer
from django_automate.api.views.base import TenantViewSet
from django_automate.models import ExecutionRun
from django_automate.runs import held_back

CHANGE = ("automate.change_executionrun",)


class RunViewSet(TenantViewSet):
    model = ExecutionRun
    permission_model = ExecutionRun
    action_permissions = {"retry": CHANGE, "cancel": CHANGE}
    serializer_class = RunSerializer
    pagination_class = RunPagination
    filter_backends = [FilterBackend]
    filterset_class = RunFilter

    def get_queryset(self) -> Any:
        runs = held_back.with_held_back(super().get_queryset().select_related("workflow", "workflow_version", "rule"))
        return runs.prefetch_related("steps") if self.action != "list" else runs

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(RunSerializer(page, many=True).data)

    @api_schema(responses=RunDetailSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(RunDetailSerializer(self.get_object()).data)

    def _operate(self, name: str) -> ExecutionRun:
        from django_automate.runs import operations

        run = self.get_object()
        result: ExecutionRun = getattr(operations, name)(run, actor=self.actor)
        return result

    @api_schema(request=None, responses={202: RunDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str) -> Response:
        """Resume a failed run from its failed step (409 ``conflict`` for other states)."""
        run = self._operate("retry_run")
        return Response(RunDetailSerializer(self.get_queryset().get(pk=run.pk)).data, status=status.HTTP_202_ACCEPTED)

    @api_schema(request=None, responses={200: RunDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        """Cancel a pending or running run (409 ``conflict`` once it has finished)."""
        run = self._operate("cancel_run")
        return Response(RunDetailSerializer(self.get_queryset().get(pk=run.pk)).data)
