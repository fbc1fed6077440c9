"""``tasks/``: results of tasks enqueued through Django's Tasks framework on AutomateBackend (read-only)."""

from __future__ import annotations

import django_filters  # type: ignore[import-untyped]
from rest_framework.request import Request
from rest_framework.response import Response

from django_automate.api.filters import FilterBackend
from django_automate.api.pagination import TaskPagination
from django_automate.api.schema import api_schema
from django_automate.api.serializers.tasks import TaskResultSerializer
from django_automate.api.views.base import TenantViewSet
from django_automate.models import TaskResult, TaskStatus


class TaskFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=TaskStatus.choices)
    queue = django_filters.CharFilter(max_length=64)
    task_path = django_filters.CharFilter(max_length=255, help_text="Exact import path of the task.")
    trace_id = django_filters.UUIDFilter()

    class Meta:
        model = TaskResult
        fields = ("status", "queue", "task_path", "trace_id")


class TaskViewSet(TenantViewSet):
    """List and retrieve task results; they are written only by the backend and the workers."""

    model = TaskResult
    permission_model = TaskResult
    serializer_class = TaskResultSerializer
    pagination_class = TaskPagination
    filter_backends = [FilterBackend]
    filterset_class = TaskFilter

    def list(self, request: Request) -> Response:
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        return self.get_paginated_response(TaskResultSerializer(page, many=True).data)

    @api_schema(responses=TaskResultSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(TaskResultSerializer(self.get_object()).data)
