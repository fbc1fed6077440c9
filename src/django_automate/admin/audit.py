"""Audit entries: read-only for everyone, superusers included."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.safestring import SafeString

from django_automate.admin.display import ReadOnlyAdminMixin, pretty_json, trace_link
from django_automate.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("seq", "created_at", "action", "actor", "object_type", "object_id", "tenant", "trace")
    list_filter = ("action", "object_type", "tenant")
    search_fields = ("action", "actor", "object_id", "trace_id")
    date_hierarchy = "created_at"
    exclude = ("data",)
    readonly_fields = ("data_pretty", "trace")

    @admin.display(description="data")
    def data_pretty(self, obj: AuditEntry) -> SafeString:
        return pretty_json(obj.data)

    @admin.display(description="trace")
    def trace(self, obj: AuditEntry) -> Any:
        return trace_link(obj.trace_id)
