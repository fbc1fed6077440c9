"""Events (redacted, raw on permission with an audit entry), replay, and the trace page."""

from __future__ import annotations

import contextvars
from typing import Any

from django.contrib import admin, messages
from django.db.models import Count, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_automate import exceptions
from django_automate.admin.display import (
    ReadOnlyAdminMixin,
    can_view_raw,
    pretty_json,
    require_permissions,
    trace_link,
)
from django_automate.admin.drawing.waterfall import waterfall_svg
from django_automate.audit import log as audit
from django_automate.models import Event, ExecutionRun
from django_automate.runs import operations
from django_automate.tracing.timeline import trace_timeline
from django_automate.tracing.waterfall import ms_between, run_waterfall

# The request being rendered (ModelAdmin instances are shared between threads, so not on self).
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("automate_admin_request", default=None)


#: What the trace page needs, as ``GET /api/v1/traces/<trace_id>/`` does.
TRACE_PERMISSIONS = ("automate.view_event", "automate.view_executionrun")


def actor(request: HttpRequest) -> str:
    return str(request.user.get_username())


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("type", "source", "status", "tenant", "received_at", "run_count", "trace")
    list_filter = ("status", "source", "tenant")
    search_fields = ("=id", "type", "idempotency_key", "=trace_id")
    date_hierarchy = "received_at"
    actions = ("replay_selected",)
    exclude = ("payload", "headers")
    readonly_fields = ("payload_view", "headers_view", "trace", "runs_view")

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        """No filtering on stored payloads or headers (``?payload__password__startswith=a``): the
        list would answer questions about redacted values, one character at a time.

        ``request`` is passed from Django 5.0 on; Django 4.2 calls this with two arguments.
        """
        if lookup.split("__", 1)[0] in ("payload", "headers"):
            return False
        if request is None:
            return bool(super().lookup_allowed(lookup, value))  # type: ignore[call-arg]
        return bool(super().lookup_allowed(lookup, value, request))

    def get_queryset(self, request: HttpRequest) -> QuerySet[Event]:
        return super().get_queryset(request).annotate(_runs=Count("runs"))

    @admin.display(description="runs", ordering="_runs")
    def run_count(self, obj: Event) -> int:
        return int(getattr(obj, "_runs", 0))

    @admin.display(description="trace")
    def trace(self, obj: Event) -> Any:
        return trace_link(obj.trace_id)

    def _raw(self, obj: Event) -> bool:
        request = _request.get()
        return bool(request and request.GET.get("raw") == "1" and can_view_raw(request))

    @admin.display(description="payload")
    def payload_view(self, obj: Event) -> SafeString:
        raw = self._raw(obj)
        toggle = ""
        request = _request.get()
        if request is not None and can_view_raw(request) and not raw:
            link = '<p><a class="button" id="automate-show-raw" href="?raw=1">{}</a></p>'
            toggle = format_html(link, "Show raw payload")
        elif raw:
            toggle = format_html('<p class="automate-raw-note"><strong>{}</strong></p>', "Raw payload (audited view)")
        return format_html("{}{}", toggle, pretty_json(obj.payload, raw=raw))

    @admin.display(description="headers")
    def headers_view(self, obj: Event) -> SafeString:
        return pretty_json(obj.headers, raw=self._raw(obj))

    @admin.display(description="runs")
    def runs_view(self, obj: Event) -> SafeString:
        rows = [
            (
                reverse("admin:automate_executionrun_change", args=[run.pk]),
                run.pk,
                run.workflow.slug,
                run.workflow_version.number,
                run.status,
            )
            for run in obj.runs.select_related("workflow", "workflow_version")
        ]
        if not rows:
            return format_html("{}", "-")
        return format_html("<ul>{}</ul>", format_html_join("", '<li><a href="{}">{}</a> {} v{}: {}</li>', rows))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        token = _request.set(request)
        try:
            response = self._change_view(request, object_id, form_url, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()  # the readonly fields read the request while rendering
            return response
        finally:
            _request.reset(token)

    def _change_view(self, request: HttpRequest, object_id: str, form_url: str, extra_context: Any) -> Any:
        if request.GET.get("raw") == "1" and can_view_raw(request):
            event = self.get_object(request, object_id)
            if event is not None:
                audit.record(
                    "raw_payload.viewed",
                    actor=actor(request),
                    object_type="event",
                    object_id=str(event.pk),
                    tenant=event.tenant,
                    trace_id=event.trace_id,
                    data={"via": "admin"},
                )
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.action(description="Replay selected events", permissions=["replay"])
    def replay_selected(self, request: HttpRequest, queryset: QuerySet[Event]) -> None:
        try:
            replayed = operations.replay_events(queryset, actor=actor(request))
        except exceptions.AutomateError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        runs = sum(len(r) for r in replayed.values())
        self.message_user(request, f"Replayed {len(replayed)} events: {runs} new runs.", messages.SUCCESS)

    def has_replay_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("automate.replay_event"))

    def get_urls(self) -> list[URLPattern]:
        trace = path("trace/<str:trace_id>/", self.admin_site.admin_view(self.trace_view), name="automate_trace")
        return [trace, *super().get_urls()]

    def trace_view(self, request: HttpRequest, trace_id: str) -> HttpResponse:
        """The whole timeline, for users who may view events and runs; audit entries need their own permission."""
        require_permissions(request, *TRACE_PERMISSIONS)
        entries = trace_timeline(trace_id)
        if not request.user.has_perm("automate.view_auditentry"):
            entries = [entry for entry in entries if entry.kind != "audit"]
        runs = ExecutionRun.objects.filter(trace_id=trace_id).select_related("workflow", "workflow_version")
        context = {
            **self.admin_site.each_context(request),
            "title": f"Trace {trace_id}",
            "trace_id": trace_id,
            "entries": entries,
            # (entry, milliseconds since the trace's first entry, the time to the millisecond)
            "rows": [(e, ms_between(entries[0].at, e.at), e.at.isoformat(timespec="milliseconds")) for e in entries],
            "waterfalls": [(run, waterfall_svg(run_waterfall(run))) for run in runs.order_by("created_at")],
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/automate/trace.html", context)
