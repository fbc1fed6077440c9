"""Approval steps in the admin: Approve/Reject buttons on a waiting run's page, and the pending approvals list.

The buttons post (with the change form's CSRF token) to a view of the run admin, which asks
for a confirmation and then calls :func:`django_automate.runs.approvals.decide` like the API:
the same permission check (the one the step names; 403 without it), once-only decision and
audit entry. They are shown only to users holding that permission.
"""

from __future__ import annotations

import contextvars
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from django_automate import exceptions
from django_automate.admin.display import ReadOnlyAdminMixin, admin_link, is_uuid
from django_automate.admin.events import actor
from django_automate.admin.run_actions import confirm_page
from django_automate.models import ExecutionRun, RunWait, WaitKind
from django_automate.runs import approvals

#: The request of the run page being rendered (read-only field methods are not given it).
_request: contextvars.ContextVar[HttpRequest | None] = contextvars.ContextVar("automate_admin_request", default=None)


class ApprovalActionsMixin:
    """For the run admin: the ``approvals`` read-only field with its buttons, and the view they post to."""

    admin_site: admin.AdminSite

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        token = _request.set(request)
        try:
            response: HttpResponse = super().change_view(request, object_id, form_url, extra_context)  # type: ignore[misc]
            if isinstance(response, TemplateResponse):
                response.render()  # the read-only fields are rendered now, while the request is known
            return response
        finally:
            _request.reset(token)

    def get_urls(self) -> list[URLPattern]:
        own = [
            path(
                "<path:object_id>/approvals/<str:step_id>/",
                self.admin_site.admin_view(self.decide_view),
                name="automate_executionrun_decide",
            )
        ]
        return own + super().get_urls()  # type: ignore[misc]

    @admin.display(description="approvals")
    def approvals_view(self, obj: ExecutionRun) -> SafeString | str:
        waits = list(RunWait.objects.filter(run=obj.pk, kind=WaitKind.APPROVAL).order_by("step_id", "attempt"))
        if not waits:
            return "-"
        request = _request.get()
        rows = []
        for wait in waits:
            pending = not wait.decision and wait.resolved_at is None and obj.status in approvals.OPEN_RUN
            if wait.decision:
                state = format_html("{} by {} at {}", wait.decision, wait.decided_by or "the timeout", wait.decided_at)
            elif not pending:
                state = format_html("{}", "not decided")
            elif request is not None and request.user.has_perm(wait.permission):
                url = reverse("admin:automate_executionrun_decide", args=[obj.pk, wait.step_id])
                state = format_html(
                    '<input type="text" name="approval_comment" placeholder="comment" maxlength="{}"> '
                    '<button type="submit" class="button" formaction="{}" name="decision" value="approve">Approve'
                    "</button> "
                    '<button type="submit" class="button" formaction="{}" name="decision" value="reject">Reject'
                    "</button>",
                    approvals.MAX_COMMENT,
                    url,
                    url,
                )
            else:
                state = format_html("pending (needs the permission {})", wait.permission)
            rows.append((wait.step_id, wait.title, wait.timeout_at, state))
        return format_html(
            "<table><tr><th>step</th><th>title</th><th>until</th><th>decision</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
        )

    def decide_view(self, request: HttpRequest, object_id: str, step_id: str) -> HttpResponseBase:
        """Confirm, then decide: 403 without the permission the step names (nothing changes)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        run = ExecutionRun.objects.filter(pk=object_id).first() if is_uuid(object_id) else None
        if run is None:
            messages.error(request, f"Run {object_id} does not exist.")
            return HttpResponseRedirect(reverse("admin:automate_executionrun_changelist"))
        decision = str(request.POST.get("decision", ""))
        comment = str(request.POST.get("approval_comment", ""))[: approvals.MAX_COMMENT]
        page = reverse("admin:automate_executionrun_change", args=[run.pk])
        try:
            wait = approvals.open_wait(run, step_id)
            approvals.check_permission(request.user, wait)
        except exceptions.PermissionDenied:
            raise PermissionDenied from None
        except exceptions.AutomateError as exc:
            messages.error(request, exc.message)
            return HttpResponseRedirect(page)
        if wait.decision or wait.resolved_at is not None or run.status not in approvals.OPEN_RUN:
            messages.error(request, f"Approval {step_id!r} of run {run.pk} was decided already or no longer waits.")
            return HttpResponseRedirect(page)
        if request.POST.get("confirm") != "yes":
            question = f"{decision.capitalize()} the approval {step_id!r} of this run? It is decided once."
            fields = {"decision": decision, "approval_comment": comment}
            return confirm_page(self, request, run, question, decision.capitalize(), **fields)  # type: ignore[arg-type]
        try:
            approvals.decide(run, step_id, decision, user=request.user, actor=actor(request), comment=comment)
        except exceptions.AutomateError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Recorded: {decision} of {step_id}.")
        return HttpResponseRedirect(page)


class PendingFilter(admin.SimpleListFilter):
    title = "pending"
    parameter_name = "pending"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Waiting for a decision or an event")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[RunWait]) -> QuerySet[RunWait]:
        if self.value() == "yes":
            return queryset.filter(resolved_at__isnull=True, decision="", run__status__in=approvals.OPEN_RUN)
        return queryset


@admin.register(RunWait)
class RunWaitAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """What waiting runs wait for; ``?kind__exact=approval&pending=yes`` lists the pending approvals."""

    list_display = ("step_id", "kind", "run_link", "title", "event_type", "timeout_at", "decision", "decided_by")
    list_filter = ("kind", PendingFilter, "decision", "tenant")
    search_fields = ("=run__id", "step_id", "event_type")
    list_select_related = ("run",)
    date_hierarchy = "created_at"

    @admin.display(description="run")
    def run_link(self, obj: RunWait) -> Any:
        return admin_link(obj.run, str(obj.run.pk))
