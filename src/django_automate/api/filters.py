"""Query filters (django-filter) for the high-volume lists: events, runs and audit entries."""

from __future__ import annotations

from typing import Any

import django_filters  # type: ignore[import-untyped]
from django.apps import apps
from django.db.models import QuerySet
from django_filters.rest_framework import DjangoFilterBackend  # type: ignore[import-untyped]

from django_automate.api.datetimes import DateTimeRangeFilter
from django_automate.models import AuditEntry, Event, EventStatus, ExecutionRun, RunStatus
from django_automate.outbox import dead
from django_automate.runs import held_back


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend; the browsable API's filter form only when ``django_filters`` is installed."""

    def to_html(self, request: Any, queryset: QuerySet[Any], view: Any) -> str | None:
        if not apps.is_installed("django_filters"):
            return None
        return super().to_html(request, queryset, view)


class EventFilter(django_filters.FilterSet):
    type = django_filters.CharFilter(max_length=255, help_text="Exact event type.")
    source = django_filters.CharFilter(max_length=128, help_text='e.g. "api", "app", "webhook:<slug>".')
    status = django_filters.ChoiceFilter(choices=EventStatus.choices)
    trace_id = django_filters.UUIDFilter()
    received_at = DateTimeRangeFilter(
        help_text="received_at_after / received_at_before (ISO 8601, inclusive / exclusive)."
    )

    class Meta:
        model = Event
        fields = ("type", "source", "status", "trace_id", "received_at")

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return _exclusive_before(super().filter_queryset(queryset), self.form.cleaned_data, "received_at")


#: ``?status=dead``: failed runs whose work is dead-lettered and not retried since.
DEAD = "dead"


class RunFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=[*RunStatus.choices, (DEAD, "Dead-lettered")],
        method="filter_status",
        help_text="A run status, or dead: failed runs whose work is dead-lettered and not retried since.",
    )
    workflow = django_filters.CharFilter(field_name="workflow__slug", max_length=100, help_text="Workflow slug.")
    event = django_filters.UUIDFilter(field_name="event_id", help_text="Event id.")
    trace_id = django_filters.UUIDFilter()
    created_at = DateTimeRangeFilter(
        help_text="created_at_after / created_at_before (ISO 8601, inclusive / exclusive)."
    )
    held_back = django_filters.ChoiceFilter(
        choices=[("any", "any"), *((name, name) for name in sorted(held_back.REASONS.values()))],
        method="filter_held_back",
        help_text="Runs waiting now for a concurrency slot or a rate limit's token (any, or one reason).",
    )

    class Meta:
        model = ExecutionRun
        fields = ("status", "workflow", "event", "trace_id", "created_at", "held_back")

    def filter_held_back(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return held_back.filter_runs(queryset, None if value == "any" else value)

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        return _exclusive_before(super().filter_queryset(queryset), self.form.cleaned_data, "created_at")

    def filter_status(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        return dead.dead_lettered_runs(queryset) if value == DEAD else queryset.filter(status=value)


class AuditFilter(django_filters.FilterSet):
    action = django_filters.CharFilter(max_length=64)
    actor = django_filters.CharFilter(max_length=150)
    object_type = django_filters.CharFilter(max_length=64)
    object_id = django_filters.CharFilter(max_length=64)
    trace_id = django_filters.UUIDFilter()

    class Meta:
        model = AuditEntry
        fields = ("action", "actor", "object_type", "object_id", "trace_id")


def _exclusive_before(queryset: QuerySet[Any], data: dict[str, Any], name: str) -> QuerySet[Any]:
    """django-filter's range is inclusive at both ends; make ``<name>_before`` exclusive, like a half-open range."""
    window = data.get(name)
    if window is not None and window.stop is not None:
        queryset = queryset.exclude(**{name: window.stop})
    return queryset
