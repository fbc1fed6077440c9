"""Results of tasks enqueued through Django's Tasks framework, and the outbox job kind that runs them.

A new table, and a new choice of ``OutboxJob.kind`` (no database change): nothing existing is rewritten.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import django_automate.models.base


class Migration(migrations.Migration):
    dependencies = [
        ("automate", "0008_run_waits"),
    ]

    operations = [
        migrations.AlterField(
            model_name="outboxjob",
            name="kind",
            field=models.CharField(
                choices=[
                    ("route_event", "Route event"),
                    ("execute_run", "Execute run"),
                    ("execute_step", "Execute step"),
                    ("run_task", "Run task"),
                ],
                max_length=32,
            ),
        ),
        migrations.CreateModel(
            name="TaskResult",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("tenant", models.CharField(blank=True, db_index=True, default="", max_length=64)),
                ("task_path", models.CharField(db_index=True, help_text="Import path of the task.", max_length=255)),
                (
                    "backend",
                    models.CharField(default="default", help_text="Alias in the TASKS setting.", max_length=64),
                ),
                ("args", django_automate.models.base.JSONField(blank=True, default=list)),
                ("kwargs", django_automate.models.base.JSONField(blank=True, default=dict)),
                ("queue", models.CharField(default="default", max_length=64)),
                ("priority", models.SmallIntegerField(default=0)),
                ("run_after", models.DateTimeField(blank=True, null=True)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("READY", "Ready"),
                            ("RUNNING", "Running"),
                            ("FAILED", "Failed"),
                            ("SUCCESSFUL", "Successful"),
                        ],
                        default="READY",
                        max_length=16,
                    ),
                ),
                (
                    "return_value",
                    django_automate.models.base.JSONField(blank=True, help_text="Stored redacted.", null=True),
                ),
                (
                    "errors",
                    django_automate.models.base.JSONField(
                        blank=True, default=list, help_text="[{exception_class_path, traceback}], one per failure."
                    ),
                ),
                ("attempts", models.PositiveIntegerField(default=0)),
                ("worker_ids", django_automate.models.base.JSONField(blank=True, default=list)),
                ("trace_id", models.CharField(db_index=True, max_length=36)),
                ("enqueued_at", models.DateTimeField(db_index=True)),
                ("started_at", models.DateTimeField(blank=True, null=True)),
                ("last_attempted_at", models.DateTimeField(blank=True, null=True)),
                ("finished_at", models.DateTimeField(blank=True, null=True)),
                (
                    "job",
                    models.OneToOneField(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="task_result",
                        to="automate.outboxjob",
                    ),
                ),
            ],
            options={
                "ordering": ("-enqueued_at",),
                "indexes": [models.Index(fields=["status", "queue"], name="automate_task_status_idx")],
            },
        ),
    ]
