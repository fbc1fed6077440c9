"""Results of tasks enqueued through Django's Tasks framework: read-only, written by the backend and workers."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.utils.safestring import SafeString

from django_automate.admin.display import ReadOnlyAdminMixin, admin_link, pretty_json, trace_link
from django_automate.models import TaskResult


@admin.register(TaskResult)
class TaskResultAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("task_path", "status", "queue", "priority", "attempts", "enqueued_at", "finished_at", "trace")
    list_filter = ("status", "queue", "backend")
    search_fields = ("task_path", "=id", "=trace_id")
    date_hierarchy = "enqueued_at"
    exclude = ("args", "kwargs", "return_value", "errors", "job")
    readonly_fields = ("args_pretty", "kwargs_pretty", "return_value_pretty", "errors_pretty", "job_link", "trace")

    @admin.display(description="args")
    def args_pretty(self, obj: TaskResult) -> SafeString:
        return pretty_json(obj.args)

    @admin.display(description="kwargs")
    def kwargs_pretty(self, obj: TaskResult) -> SafeString:
        return pretty_json(obj.kwargs)

    @admin.display(description="return value")
    def return_value_pretty(self, obj: TaskResult) -> SafeString:
        return pretty_json(obj.return_value)

    @admin.display(description="errors")
    def errors_pretty(self, obj: TaskResult) -> SafeString:
        return pretty_json(obj.errors)

    @admin.display(description="outbox job")
    def job_link(self, obj: TaskResult) -> Any:
        return admin_link(obj.job)

    @admin.display(description="trace")
    def trace(self, obj: TaskResult) -> Any:
        return trace_link(obj.trace_id)
