"""Workflows (edit = publish a new version, diffs), their versions, rules (with "test this rule"), endpoints."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from django_automate import exceptions
from django_automate.admin.display import ReadOnlyAdminMixin, pretty_json, require_permissions
from django_automate.admin.drawing.graph import graph_svg
from django_automate.admin.events import actor
from django_automate.admin.forms import RuleForm, RuleTestForm, WorkflowForm, problems_as_errors
from django_automate.models import Event, RuleSpec, WebhookEndpoint, Workflow, WorkflowVersion
from django_automate.rules import explain, services
from django_automate.workflows import diff, publishing


def get_or_404(model_admin: admin.ModelAdmin, request: HttpRequest, object_id: str) -> Any:
    """The object of a custom admin page: 403 without the view permission (before any lookup), 404 if unknown."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    model: type[Model] = model_admin.model
    try:
        obj = model_admin.get_queryset(request).get(pk=object_id)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        raise Http404(f"No {model._meta.verbose_name} {object_id!r}.") from exc
    if not model_admin.has_view_permission(request, obj):
        raise PermissionDenied
    return obj


def version_number(request: HttpRequest, name: str, default: int) -> int:
    value = request.GET.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise Http404(f"No version {value!r}.") from None


def compare_link(version: WorkflowVersion) -> Any:
    """A link to the diff of ``version`` against the one before it ("-" for the first)."""
    if version.number <= 1:
        return "-"
    url = reverse("admin:automate_workflow_diff", args=[version.workflow_id])
    before, after = version.number - 1, version.number
    return format_html('<a href="{}?a={}&b={}">v{} → v{}</a>', url, before, after, before, after)


class VersionInline(admin.TabularInline):
    model = WorkflowVersion
    extra = 0
    can_delete = False
    fields = ("number", "sha256", "author", "created_at", "compare")
    readonly_fields = fields
    ordering = ("-number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="diff")
    def compare(self, obj: WorkflowVersion) -> Any:
        return compare_link(obj)


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    form = WorkflowForm
    list_display = ("slug", "name", "tenant", "enabled", "current_number", "updated_at")
    list_filter = ("enabled", "tenant")
    search_fields = ("slug", "name")
    fields = ("tenant", "slug", "name", "description", "enabled", "definition")
    inlines = (VersionInline,)

    @admin.display(description="version")
    def current_number(self, obj: Workflow) -> Any:
        return obj.current_version.number if obj.current_version else "-"

    def get_form(self, request: HttpRequest, obj: Workflow | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        if obj is not None and obj.current_version is not None:
            form.base_fields["definition"].initial = obj.current_version.definition
        return form

    def save_model(self, request: HttpRequest, obj: Workflow, form: Any, change: bool) -> None:
        definition = form.cleaned_data["definition"]
        try:
            if not change:
                created = publishing.create_workflow(
                    slug=obj.slug,
                    name=obj.name,
                    description=obj.description,
                    tenant=obj.tenant,
                    definition=definition,
                    author=actor(request),
                )
                obj.pk = created.pk
                obj._state.adding = False
                return
            obj.save()
            current = obj.current_version.definition if obj.current_version else None
            if definition != current:
                version = publishing.publish(obj, definition, author=actor(request))
                self.message_user(request, f"Published version {version.number}.", messages.SUCCESS)
        except exceptions.AutomateError as exc:
            self.message_user(request, "; ".join(problems_as_errors(exc).messages), messages.ERROR)

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.diff_view)
        return [path("<path:object_id>/diff/", view, name="automate_workflow_diff"), *super().get_urls()]

    def diff_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        workflow: Workflow = get_or_404(self, request, object_id)
        versions = workflow.versions.all()
        latest = workflow.current_version.number if workflow.current_version else 1
        b_number = version_number(request, "b", latest)
        a_number = version_number(request, "a", max(1, b_number - 1))
        a = get_object_or_404(versions, number=a_number)
        b = get_object_or_404(versions, number=b_number)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{workflow.slug}: v{a.number} → v{b.number}",
            "workflow": workflow,
            "a": a,
            "b": b,
            "changes": diff.diff_versions(a, b),
            "graph_a": graph_svg(a.definition),
            "graph_b": graph_svg(b.definition),
            "unified": diff.version_unified_diff(a, b),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/automate/workflow_diff.html", context)


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("workflow", "number", "sha256", "author", "created_at")
    list_filter = ("workflow",)
    exclude = ("definition",)
    readonly_fields = ("graph_view", "definition_view", "diff_link")

    @admin.display(description="step graph")
    def graph_view(self, obj: WorkflowVersion) -> SafeString:
        return graph_svg(obj.definition)

    @admin.display(description="definition")
    def definition_view(self, obj: WorkflowVersion) -> SafeString:
        return pretty_json(obj.definition)

    @admin.display(description="diff")
    def diff_link(self, obj: WorkflowVersion) -> Any:
        return compare_link(obj)


@admin.register(RuleSpec)
class RuleSpecAdmin(admin.ModelAdmin):
    form = RuleForm
    list_display = (
        "name",
        "tenant",
        "event_type",
        "workflow",
        "priority",
        "enabled",
        "debounce_seconds",
        "version",
        "test_link",
    )
    list_filter = ("enabled", "tenant", "workflow")
    search_fields = ("name", "event_type")

    @admin.display(description="test")
    def test_link(self, obj: RuleSpec) -> Any:
        return format_html('<a href="{}">test this rule</a>', reverse("admin:automate_rule_test", args=[obj.pk]))

    def save_model(self, request: HttpRequest, obj: RuleSpec, form: Any, change: bool) -> None:
        try:
            services.save_rule(obj, actor=actor(request))
        except exceptions.AutomateError as exc:
            self.message_user(request, "; ".join(problems_as_errors(exc).messages), messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: RuleSpec) -> None:
        services.delete_rule(obj, actor=actor(request))

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view(self.test_view)
        return [path("<path:object_id>/test/", view, name="automate_rule_test"), *super().get_urls()]

    def test_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        rule: RuleSpec = get_or_404(self, request, object_id)
        form = RuleTestForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            try:
                if form.cleaned_data.get("event_id"):
                    # As in the API: a stored event's data is shown only to those who may view events.
                    require_permissions(request, "automate.view_event")
                    event = get_object_or_404(Event, pk=form.cleaned_data["event_id"], tenant=rule.tenant)
                    # Reading a redacted value needs the raw permission, and is audited as a raw view.
                    raw = request.user.has_perm(explain.RAW_PERMISSION)
                    if raw:
                        explain.audit_raw_reads(request.user, event, [rule], via="admin")
                    result = explain.test_rule(rule=rule, event=event, redacted=not raw)
                else:
                    sample_type = form.cleaned_data.get("event_type") or None
                    result = explain.test_rule(rule=rule, payload=form.cleaned_data["payload"], event_type=sample_type)
            except exceptions.AutomateError as exc:
                form.add_error(None, exc.message)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test rule {rule.name}",
            "rule": rule,
            "form": form,
            "result": result,
            "result_json": pretty_json(result, raw=True) if result is not None else None,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/automate/rule_test.html", context)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("slug", "tenant", "event_type", "scheme", "enabled", "rate_limit_per_minute")
    list_filter = ("scheme", "enabled", "tenant")
    search_fields = ("slug", "name", "event_type")
