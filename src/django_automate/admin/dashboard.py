"""``/admin/automate/dashboard/``: the operator's overview over 1 h, 24 h or 7 d (SPEC §16).

The figures come from ``observability.dashboard``; this module checks permissions, reads the
window and renders. It needs the same permissions as the trace page (viewing events and
runs) and, like the other admin pages, covers every tenant.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path

from django_automate import exceptions
from django_automate.admin.display import ReadOnlyAdminMixin, require_permissions
from django_automate.admin.drawing import charts
from django_automate.admin.events import TRACE_PERMISSIONS
from django_automate.models import Dashboard, MetricRollup, RollupMark, RunStatus
from django_automate.observability import dashboard

DASHBOARD_PERMISSIONS = TRACE_PERMISSIONS
STATUS_COLORS = {RunStatus.SUCCEEDED: "#2e7d32", RunStatus.FAILED: "#c62828", RunStatus.CANCELLED: "#9e9e9e"}
LABEL_FORMATS = {60: "%H:%M", 3600: "%d %b %H:00"}


@admin.register(Dashboard)
class DashboardAdmin(admin.ModelAdmin):
    """One page, no rows: listed in the app's section of the admin index for those who may see it."""

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perms(DASHBOARD_PERMISSIONS))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[URLPattern]:
        return [path("", self.admin_site.admin_view(self.dashboard_view), name="automate_dashboard_changelist")]

    def dashboard_view(self, request: HttpRequest) -> HttpResponse:
        require_permissions(request, *DASHBOARD_PERMISSIONS)
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "title": "Dashboard",
            "opts": self.model._meta,
            "windows": dashboard.WINDOWS.values(),
        }
        try:
            window = dashboard.parse_window(request.GET.get("window"))
        except exceptions.ValidationError as exc:
            context["error"] = exc.message
            return TemplateResponse(request, "admin/automate/dashboard.html", context, status=400)
        figures = dashboard.build(window)
        context.update(figures=figures, window=window, charts=_charts(figures))
        context["workflows"] = [_workflow_row(w) for w in figures.workflows]
        context["buckets"] = list(zip(figures.bucket_starts, figures.events, strict=True))
        return TemplateResponse(request, "admin/automate/dashboard.html", context)


@admin.register(MetricRollup)
class MetricRollupAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The dashboard's counts per closed block, for inspection (written only by the dashboard)."""

    list_display = ("bucket_start", "span", "kind", "workflow", "status", "duration_bucket", "count")
    list_filter = ("span", "kind")
    list_select_related = ("workflow",)
    date_hierarchy = "bucket_start"


@admin.register(RollupMark)
class RollupMarkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("span", "rolled_until")


def _charts(figures: dashboard.DashboardFigures) -> dict[str, Any]:
    label_format = LABEL_FORMATS[figures.window.span]
    unit = "minute" if figures.window.span == 60 else "hour"
    events = charts.bar_chart(
        "automate-events-chart",
        f"Events received per {unit}, {figures.window.label}",
        figures.bucket_starts,
        [charts.Series("events", figures.events, "#417690")],
        label_format=label_format,
    )
    runs = charts.bar_chart(
        "automate-runs-chart",
        f"Runs finished per {unit} by status, {figures.window.label}",
        figures.bucket_starts,
        [charts.Series(str(status), figures.finished_runs[status], STATUS_COLORS[status]) for status in STATUS_COLORS],
        label_format=label_format,
    )
    return {"events": events, "runs": runs}


def _workflow_row(workflow: dashboard.WorkflowFigures) -> dict[str, Any]:
    rate = workflow.failure_rate
    return {
        "slug": workflow.slug,
        "tenant": workflow.tenant,
        "succeeded": workflow.finished[RunStatus.SUCCEEDED],
        "failed": workflow.finished[RunStatus.FAILED],
        "cancelled": workflow.finished[RunStatus.CANCELLED],
        "failure_rate": None if rate is None else f"{rate * 100:.1f} %",
        "p50": _ms(workflow.percentile_ms(0.5)),
        "p95": _ms(workflow.percentile_ms(0.95)),
    }


def _ms(value: float | None) -> str | None:
    """About three significant digits: the histogram's buckets are 19 % wide."""
    if value is None:
        return None
    if value >= 1000:
        return f"{value / 1000:,.3g} s" if value < 100_000 else f"{value / 1000:,.0f} s"
    return f"{value:.3g} ms"
