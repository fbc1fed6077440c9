"""Runs with their waterfall and buttons; retry from the failed step, cancel; dead letters; outbox jobs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_automate import exceptions
from django_automate.admin.approvals import ApprovalActionsMixin
from django_automate.admin.display import ReadOnlyAdminMixin, admin_link, is_uuid, pretty_json, trace_link
from django_automate.admin.drawing.waterfall import waterfall_svg
from django_automate.admin.events import actor
from django_automate.admin.run_actions import RunActionsMixin
from django_automate.models import ExecutionRun, OutboxJob, RunStatus, StepRun, WorkerHeartbeat
from django_automate.outbox import dead
from django_automate.runs import held_back, operations
from django_automate.tracing.waterfall import run_waterfall


class DeadLetterFilter(admin.SimpleListFilter):
    title = "dead letters"
    parameter_name = "dead_letter"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Dead-lettered")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExecutionRun]) -> QuerySet[ExecutionRun]:
        if self.value() == "yes":
            return dead.dead_lettered_runs(queryset)
        return queryset


class HeldBackFilter(admin.SimpleListFilter):
    title = "held back by"
    parameter_name = "held_back"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("any", "Slot or rate limit"), ("concurrency", "Concurrency slot"), ("rate_limit", "Rate limit")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[ExecutionRun]) -> QuerySet[ExecutionRun]:
        value = self.value()
        if value in ("any", *held_back.REASONS.values()):
            return held_back.filter_runs(queryset, None if value == "any" else value)
        return queryset


class StepRunInline(admin.TabularInline):
    model = StepRun
    extra = 0
    can_delete = False
    ordering = ("step_index", "attempt")
    fields = ("step_index", "step_id", "connector", "action", "attempt", "status", "started_at", "duration_ms", "err")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="error")
    def err(self, obj: StepRun) -> str:
        return f"{obj.error.get('code')}: {obj.error.get('message')}" if obj.error else ""


@admin.register(ExecutionRun)
class ExecutionRunAdmin(RunActionsMixin, ApprovalActionsMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id",
        "workflow",
        "version",
        "status",
        "waits_until",
        "held_back_by",
        "event_link",
        "created_at",
        "duration",
        "trace",
    )
    list_filter = ("status", DeadLetterFilter, HeldBackFilter, "workflow", "tenant")
    change_form_template = "admin/automate/run_change_form.html"
    search_fields = ("=id", "=trace_id", "=event__id")
    date_hierarchy = "created_at"
    list_select_related = ("workflow", "workflow_version", "event")
    actions = ("retry_selected", "cancel_selected")
    inlines = (StepRunInline,)
    exclude = ("error",)
    readonly_fields = ("held_back_by", "error_view", "trace", "approvals_view", "step_io")

    def get_queryset(self, request: HttpRequest) -> QuerySet[ExecutionRun]:
        return held_back.with_held_back(super().get_queryset(request))

    @admin.display(description="version")
    def version(self, obj: ExecutionRun) -> int:
        return obj.workflow_version.number

    @admin.display(description="event")
    def event_link(self, obj: ExecutionRun) -> Any:
        return admin_link(obj.event, obj.event.type)

    @admin.display(description="duration")
    def duration(self, obj: ExecutionRun) -> str:
        if obj.started_at and obj.finished_at:
            return f"{(obj.finished_at - obj.started_at).total_seconds() * 1000:.0f} ms"
        return "-"

    @admin.display(description="waiting until", ordering="waiting_until")
    def waits_until(self, obj: ExecutionRun) -> Any:
        """When a waiting (sleeping) run goes on; blank for the others."""
        return obj.waiting_until if obj.status == RunStatus.WAITING else None

    @admin.display(description="held back by")
    def held_back_by(self, obj: ExecutionRun) -> str:
        """A concurrency slot or a rate limit the run waits for now, with its key and next try."""
        found = held_back.of(obj)
        if found is None:
            return "-"
        what = "slot" if found.reason == "concurrency" else f"rate limit (step {found.step_id})"
        return f"{what} {found.key!r} until {found.until:%H:%M:%S}"

    @admin.display(description="trace")
    def trace(self, obj: ExecutionRun) -> Any:
        return trace_link(obj.trace_id)

    @admin.display(description="error")
    def error_view(self, obj: ExecutionRun) -> SafeString:
        return pretty_json(obj.error)

    @admin.display(description="step input / output (redacted)")
    def step_io(self, obj: ExecutionRun) -> SafeString:
        """Each attempt's input, output and error, folded (``<details>``), redacted like every JSON shown."""
        attempts = [
            (
                s.step_id,
                s.attempt,
                s.status,
                pretty_json({"input": s.input, "output": s.output, "error": s.error}),
            )
            for s in obj.steps.order_by("step_index", "step_id", "attempt")
        ]
        if not attempts:
            return format_html("{}", "-")
        return format_html_join(
            "",
            '<details class="automate-attempt" data-step="{}" data-attempt="{}">'
            "<summary>{} #{} ({})</summary>{}</details>",
            ((step, n, step, n, status, shown) for step, n, status, shown in attempts),
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = ExecutionRun.objects.filter(pk=object_id).first() if is_uuid(object_id) else None
        if run is not None and self.has_view_permission(request, run):
            extra_context = {**(extra_context or {}), "waterfall": waterfall_svg(run_waterfall(run))}
        return super().change_view(request, object_id, form_url, extra_context)

    def _each(
        self, request: HttpRequest, queryset: QuerySet[ExecutionRun], action: Callable[..., Any], verb: str
    ) -> None:
        done, problems = 0, []
        for run in queryset:
            try:
                action(run, actor=actor(request))
                done += 1
            except exceptions.AutomateError as exc:
                problems.append(f"{run.pk}: {exc.message}")
        if done:
            self.message_user(request, f"{verb} {done} run(s).", messages.SUCCESS)
        for problem in problems:
            self.message_user(request, problem, messages.WARNING)

    @admin.action(description="Retry selected failed runs from the failed step", permissions=["operate"])
    def retry_selected(self, request: HttpRequest, queryset: QuerySet[ExecutionRun]) -> None:
        self._each(request, queryset, operations.retry_run, "Queued for retry:")

    @admin.action(description="Cancel selected runs", permissions=["operate"])
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[ExecutionRun]) -> None:
        self._each(request, queryset, operations.cancel_run, "Cancelled")

    def has_operate_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("automate.change_executionrun"))


@admin.register(OutboxJob)
class OutboxJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "kind", "queue", "priority", "status", "attempts", "available_at", "leased_by", "trace_id")
    list_filter = ("status", "kind", "queue")
    search_fields = ("=id", "=trace_id")
    date_hierarchy = "created_at"


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "hostname", "pid", "started_at", "last_seen_at", "stopped_at")
