"""Backfills in the admin: filter form, dry-run preview, confirmation, and a progress page with cancel/resume.

Everything needs ``automate.replay_event``; a filter's condition that reads sensitive keys needs
``automate.view_raw_payload`` as in the API. Actions call :mod:`django_automate.runs.backfill.services`.
"""

from __future__ import annotations

import contextvars
import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from django_automate import exceptions
from django_automate.admin.display import ReadOnlyAdminMixin, can_view_raw, pretty_json, require_permissions
from django_automate.admin.forms import parse_json
from django_automate.models import Backfill, EventStatus
from django_automate.models.backfill import ACTIVE_STATUSES, RESUMABLE_STATUSES
from django_automate.runs.backfill import services

REPLAY = "automate.replay_event"
# The request being rendered (ModelAdmin instances are shared between threads, so not on self).
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("automate_backfill_request", default=None)


class BackfillForm(forms.Form):
    tenant = forms.CharField(required=False, max_length=64)
    type = forms.CharField(required=False, max_length=255, help_text="Event type (exact).")
    endpoint = forms.CharField(required=False, max_length=255, help_text="Webhook endpoint slug.")
    status = forms.ChoiceField(required=False, choices=[("", "any"), *EventStatus.choices])
    received_from = forms.CharField(required=False, help_text="ISO 8601, inclusive.")
    received_until = forms.CharField(required=False, help_text="ISO 8601, exclusive (default: now).")
    where = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "spellcheck": "false"}),
        help_text="JSON Logic on the event, like a rule condition.",
    )

    def event_filter(self) -> dict[str, Any]:
        """The filter the form describes (``where`` parsed from JSON)."""
        values = self.cleaned_data
        data = {name: values[name] for name in ("type", "endpoint", "status", "received_from", "received_until")}
        data = {name: value for name, value in data.items() if value}
        if values["where"].strip():
            try:
                data["where"] = parse_json(values["where"], "The condition")
            except forms.ValidationError as exc:
                self.add_error("where", exc)
                raise
        return data

    def show(self, exc: exceptions.AutomateError) -> None:
        """Put a service's error on its field (or the form)."""
        field = exc.details.get("field")
        self.add_error(field if field in self.fields else None, exc.message)


@admin.register(Backfill)
class BackfillAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "status", "tenant", "progress", "started_runs", "requested_by", "created_at")
    list_filter = ("status", "tenant")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(REPLAY))

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(REPLAY))

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm(REPLAY))  # "add" is the filter form

    @admin.display(description="events read")
    def progress(self, obj: Backfill) -> str:
        return "hidden" if self._hidden(obj) else f"{obj.processed} / {obj.total}"

    @admin.display(description="runs started")
    def started_runs(self, obj: Backfill) -> str:
        return "hidden" if self._hidden(obj) else str(obj.started)

    def _hidden(self, obj: Backfill) -> bool:
        request = _request.get()
        return services.needs_raw(obj) and (request is None or not can_view_raw(request))

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> Any:
        token = _request.set(request)
        try:
            response = super().changelist_view(request, extra_context)
            if isinstance(response, TemplateResponse):
                response.render()  # the columns read the request while rendering
            return response
        finally:
            _request.reset(token)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("<uuid:pk>/cancel/", view(self.cancel_view), name="automate_backfill_cancel"),
            path("<uuid:pk>/resume/", view(self.resume_view), name="automate_backfill_resume"),
            *super().get_urls(),
        ]

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """The filter form; "Dry run" previews, "Start backfill" (after a preview) starts it."""
        require_permissions(request, REPLAY)
        form = BackfillForm(request.POST or None)
        context: dict[str, Any] = {}
        if request.method == "POST" and form.is_valid():
            redacted = not can_view_raw(request)
            actor = str(request.user.get_username())
            tenant = form.cleaned_data["tenant"]
            try:
                if "confirm" in request.POST:
                    applied = parse_json(request.POST.get("applied", "{}"), "The previewed filter")
                    backfill = services.request(applied, tenant=tenant, actor=actor, redacted=redacted)
                    self.message_user(request, f"Backfill {backfill.pk} started.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:automate_backfill_change", args=[backfill.pk]))
                spec, report = services.preview(form.event_filter(), tenant=tenant, actor=actor, redacted=redacted)
                context = {
                    "report": report,
                    "applied": json.dumps(spec.to_json()),
                    "sample": [(event, pretty_json(event.payload)) for event in report.sample]
                    if request.user.has_perm("automate.view_event")
                    else [],
                }
            except exceptions.AutomateError as exc:
                form.show(exc)
            except forms.ValidationError:
                pass  # on the form already
        context.update(
            {
                **self.admin_site.each_context(request),
                "title": "Backfill: replay events",
                "form": form,
                "opts": self.model._meta,
            }
        )
        return TemplateResponse(request, "admin/automate/backfill_form.html", context)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None) -> Any:
        """The progress page: counts by workflow, cursor, error, and Cancel / Resume buttons."""
        require_permissions(request, REPLAY)
        backfill = get_object_or_404(Backfill, pk=object_id)
        if services.needs_raw(backfill) and not can_view_raw(request):
            raise PermissionDenied
        total = max(backfill.total, backfill.processed, 1)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Backfill {backfill.pk}",
            "backfill": backfill,
            "percent": 100 * backfill.processed // total,
            "filter_json": pretty_json(backfill.filter),
            "workflows": sorted(backfill.workflows.items()),
            "can_cancel": backfill.status in ACTIVE_STATUSES,
            "can_resume": backfill.status in RESUMABLE_STATUSES,
            "refresh": backfill.status in ACTIVE_STATUSES,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/automate/backfill_progress.html", context)

    def cancel_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        return self._operate(request, pk, services.cancel, "cancelled")

    def resume_view(self, request: HttpRequest, pk: Any) -> HttpResponse:
        return self._operate(request, pk, services.resume, "resumed")

    def _operate(self, request: HttpRequest, pk: Any, operation: Any, done: str) -> HttpResponse:
        require_permissions(request, REPLAY)
        if request.method != "POST":
            raise PermissionDenied
        backfill = get_object_or_404(Backfill, pk=pk)
        if services.needs_raw(backfill) and not can_view_raw(request):
            raise PermissionDenied
        try:
            operation(backfill, actor=str(request.user.get_username()))
            self.message_user(request, f"Backfill {done}.", messages.SUCCESS)
        except exceptions.AutomateError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(reverse("admin:automate_backfill_change", args=[pk]))
