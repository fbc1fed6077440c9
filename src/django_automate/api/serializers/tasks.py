"""Task results (Django's Tasks framework on AutomateBackend); arguments, return values and errors redacted."""

from __future__ import annotations

from rest_framework import serializers

from django_automate.api.serializers.common import RedactedJSONField
from django_automate.models import TaskResult


class TaskResultSerializer(serializers.ModelSerializer):
    args = RedactedJSONField()
    kwargs = RedactedJSONField()
    return_value = RedactedJSONField(allow_null=True, help_text="Set once the task is SUCCESSFUL.")
    errors = RedactedJSONField(help_text="One {exception_class_path, traceback} per failure.")  # type: ignore[assignment]
    worker_ids = RedactedJSONField()
    job = serializers.IntegerField(source="job_id", read_only=True, allow_null=True, help_text="Id of the outbox job.")

    class Meta:
        model = TaskResult
        fields = (
            "id",
            "task_path",
            "backend",
            "queue",
            "priority",
            "status",
            "args",
            "kwargs",
            "return_value",
            "errors",
            "attempts",
            "worker_ids",
            "run_after",
            "enqueued_at",
            "started_at",
            "last_attempted_at",
            "finished_at",
            "job",
            "trace_id",
        )
        read_only_fields = fields
