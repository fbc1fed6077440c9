"""Secrets (values write-only), budgets with their usage, schedules and API tokens."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.safestring import SafeString

from django_automate import exceptions
from django_automate.admin.display import ReadOnlyAdminMixin, pretty_json
from django_automate.admin.events import actor
from django_automate.models import ApiToken, Budget, Schedule, Secret


class SecretForm(forms.ModelForm):
    value = forms.CharField(
        widget=forms.PasswordInput(render_value=False),
        required=False,
        help_text="Write-only: leave empty to keep the current value.",
    )

    class Meta:
        model = Secret
        fields = ("tenant", "name", "description")


@admin.register(Secret)
class SecretAdmin(admin.ModelAdmin):
    form = SecretForm
    list_display = ("name", "tenant", "description", "updated_at")
    search_fields = ("name",)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("automate.manage_secrets"))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.has_perm("automate.manage_secrets"))

    has_add_permission = has_change_permission = has_delete_permission = has_view_permission

    def save_model(self, request: HttpRequest, obj: Secret, form: Any, change: bool) -> None:
        from django_automate.secrets import store

        value = form.cleaned_data.get("value")
        if not value and not change:
            self.message_user(request, "A new secret needs a value.", messages.ERROR)
            return
        try:
            if value:
                saved = store.put_secret(
                    name=obj.name, value=value, tenant=obj.tenant, description=obj.description, actor=actor(request)
                )
                obj.pk = saved.pk
            else:
                Secret.objects.filter(pk=obj.pk).update(description=obj.description)
        except exceptions.AutomateError as exc:
            self.message_user(request, exc.message, messages.ERROR)

    def delete_model(self, request: HttpRequest, obj: Secret) -> None:
        from django_automate.secrets import store

        store.delete_secret(obj, actor=actor(request))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Secret]) -> None:
        for secret in queryset:
            self.delete_model(request, secret)


@admin.register(Budget)
class BudgetAdmin(admin.ModelAdmin):
    list_display = ("scope", "metric", "limit", "period", "on_exceed", "enabled", "tenant")
    list_filter = ("metric", "period", "on_exceed", "enabled")
    readonly_fields = ("usage_view",)

    @admin.display(description="usage in the current window")
    def usage_view(self, obj: Budget) -> SafeString | str:
        if obj.pk is None:
            return "-"
        from django_automate.policy import budgets

        return pretty_json(budgets.usage(obj), raw=True)


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ("name", "tenant", "cron", "interval_seconds", "timezone", "catch_up", "enabled", "next_tick_at")
    list_filter = ("enabled", "catch_up", "tenant")
    search_fields = ("name",)


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tokens are created with ``manage.py automate token create`` (shown once); here they can be revoked."""

    list_display = ("prefix", "name", "user", "tenant", "created_at", "last_used_at", "revoked_at")
    list_filter = ("tenant",)
    exclude = ("key_hash",)
    actions = ("revoke_selected",)

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiToken]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).", messages.SUCCESS)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("automate.delete_apitoken"))
