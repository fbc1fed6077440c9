"""The run page's buttons: Retry, Cancel, Replay, and Approve/Reject of its open approvals.

Each button is a POST form (with the CSRF token) that first answers with a confirmation page;
only the confirmed POST acts, through the same services as the API and the CLI
(:mod:`django_automate.runs.operations`, :func:`django_automate.runs.approvals.decide`), which
check the run's state and write the audit entry. A button is shown only to users holding its
permission and only while it applies to the run's state; the views check the permission
again, so a crafted POST without it is answered 403 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from django_automate import exceptions
from django_automate.admin.display import is_uuid
from django_automate.admin.events import actor
from django_automate.models import ExecutionRun, RunStatus, RunWait, WaitKind
from django_automate.runs import approvals, operations

CONFIRM_TEMPLATE = "admin/automate/run_confirm.html"


@dataclass(frozen=True)
class RunAction:
    """One operation on a run: who may do it, when it applies, and the service that does it."""

    name: str
    label: str
    permission: str
    applies: Callable[[ExecutionRun], bool]
    perform: Callable[[ExecutionRun, str], str]  # (run, actor) -> the success message
    question: str


def _retry(run: ExecutionRun, who: str) -> str:
    operations.retry_run(run, actor=who)
    return f"Run {run.pk} queued for retry from its failed step."


def _cancel(run: ExecutionRun, who: str) -> str:
    operations.cancel_run(run, actor=who)
    return f"Run {run.pk} cancelled."


def _replay(run: ExecutionRun, who: str) -> str:
    runs = operations.replay_event(run.event, actor=who)
    return f"Replayed event {run.event_id}: {len(runs)} new run(s)."


ACTIONS = {
    action.name: action
    for action in (
        RunAction(
            "retry",
            "Retry",
            "automate.change_executionrun",
            lambda run: run.status == RunStatus.FAILED,
            _retry,
            "Retry this run from its failed step? Succeeded steps are not run again.",
        ),
        RunAction(
            "cancel",
            "Cancel",
            "automate.change_executionrun",
            lambda run: run.status in (RunStatus.PENDING, RunStatus.RUNNING, RunStatus.WAITING),
            _cancel,
            "Cancel this run? A step in flight finishes; no further step starts.",
        ),
        RunAction(
            "replay",
            "Replay",
            "automate.replay_event",
            lambda run: True,
            _replay,
            "Replay this run's event? The rules matching it now start new runs of their workflows' current versions.",
        ),
    )
}


@dataclass(frozen=True)
class Button:
    label: str
    url: str
    fields: dict[str, str] = field(default_factory=dict)


def open_approvals(run: ExecutionRun) -> list[RunWait]:
    if run.status not in approvals.OPEN_RUN:
        return []
    waits = RunWait.objects.filter(run=run.pk, kind=WaitKind.APPROVAL, decision="", resolved_at__isnull=True)
    return list(waits.order_by("step_id", "attempt"))


def buttons(request: HttpRequest, run: ExecutionRun) -> list[Button]:
    """The buttons ``request.user`` may use on ``run`` now."""
    shown = [
        Button(action.label, reverse("admin:automate_executionrun_action", args=[run.pk, action.name]))
        for action in ACTIONS.values()
        if request.user.has_perm(action.permission) and action.applies(run)
    ]
    for wait in open_approvals(run):
        if request.user.has_perm(wait.permission):
            url = reverse("admin:automate_executionrun_decide", args=[run.pk, wait.step_id])
            for decision in ("approve", "reject"):
                shown.append(Button(f"{decision.capitalize()} {wait.step_id}", url, {"decision": decision}))
    return shown


def confirm_page(
    model_admin: admin.ModelAdmin, request: HttpRequest, run: ExecutionRun, question: str, label: str, **fields: str
) -> TemplateResponse:
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"{label}: run {run.pk}",
        "run": run,
        "question": question,
        "label": label,
        "fields": fields,
        "opts": model_admin.model._meta,
    }
    return TemplateResponse(request, CONFIRM_TEMPLATE, context)


class RunActionsMixin:
    """For the run admin: the buttons in the page's context and the view they post to."""

    admin_site: admin.AdminSite
    model: type[ExecutionRun]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        run = ExecutionRun.objects.filter(pk=object_id).first() if is_uuid(object_id) else None
        context = {**(extra_context or {}), "run_buttons": buttons(request, run) if run is not None else []}
        response: HttpResponse = super().change_view(request, object_id, form_url, context)  # type: ignore[misc]
        return response

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.action_view)
        own = [path("<path:object_id>/do/<str:name>/", view, name="automate_executionrun_action")]
        return own + super().get_urls()  # type: ignore[misc]

    def action_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponseBase:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        action = ACTIONS.get(name)
        if action is None or not is_uuid(object_id):
            raise Http404(f"No action {name!r} on run {object_id!r}.")
        if not (self.has_view_permission(request) and request.user.has_perm(action.permission)):  # type: ignore[attr-defined]
            raise PermissionDenied
        run = get_object_or_404(ExecutionRun.objects.select_related("event"), pk=object_id)
        if request.POST.get("confirm") != "yes":
            return confirm_page(self, request, run, action.question, action.label)  # type: ignore[arg-type]
        try:
            messages.success(request, action.perform(run, actor(request)))
        except exceptions.AutomateError as exc:
            messages.error(request, exc.message)
        return HttpResponseRedirect(reverse("admin:automate_executionrun_change", args=[run.pk]))
