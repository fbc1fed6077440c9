"""Waits of ``wait_for`` and ``approval`` steps, the correlation paths awaited, and ``automate.approve_run``.

Two new tables and a permission: no existing row changes.
"""

import uuid

import django.db.models.deletion
from django.db import migrations, models

import django_automate.models.base


class Migration(migrations.Migration):
    dependencies = [
        ("automate", "0007_job_step"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="executionrun",
            options={
                "ordering": ("-created_at",),
                "permissions": [("approve_run", "Can decide approval steps of runs")],
            },
        ),
        migrations.CreateModel(
            name="WaitRoute",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("tenant", models.CharField(blank=True, db_index=True, default="", max_length=64)),
                ("event_type", models.CharField(max_length=255)),
                ("path", models.CharField(max_length=255)),
            ],
            options={
                "constraints": [
                    models.UniqueConstraint(fields=("tenant", "event_type", "path"), name="automate_waitroute_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="RunWait",
            fields=[
                ("id", models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ("tenant", models.CharField(blank=True, db_index=True, default="", max_length=64)),
                ("step_id", models.CharField(max_length=64)),
                ("attempt", models.PositiveIntegerField(default=1)),
                ("kind", models.CharField(choices=[("event", "Event"), ("approval", "Approval")], max_length=16)),
                ("event_type", models.CharField(blank=True, max_length=255)),
                (
                    "correlation",
                    models.CharField(blank=True, help_text="sha256 of the path and the value.", max_length=64),
                ),
                (
                    "condition",
                    django_automate.models.base.JSONField(
                        blank=True, help_text="wait_for.if: JSON Logic over the awaited event.", null=True
                    ),
                ),
                (
                    "after",
                    models.DateTimeField(help_text="Only events received after this (the run's creation) count."),
                ),
                ("timeout_at", models.DateTimeField()),
                ("title", models.CharField(blank=True, max_length=500)),
                ("permission", models.CharField(blank=True, max_length=150)),
                (
                    "on_timeout",
                    models.CharField(blank=True, choices=[("approve", "Approve"), ("reject", "Reject")], max_length=16),
                ),
                (
                    "decision",
                    models.CharField(blank=True, choices=[("approve", "Approve"), ("reject", "Reject")], max_length=16),
                ),
                ("decided_by", models.CharField(blank=True, max_length=150)),
                ("comment", models.TextField(blank=True)),
                ("decided_at", models.DateTimeField(blank=True, null=True)),
                ("resolved_at", models.DateTimeField(blank=True, null=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                (
                    "event",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="resumed_waits",
                        to="automate.event",
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="waits", to="automate.executionrun"
                    ),
                ),
            ],
            options={
                "verbose_name": "run wait",
                "ordering": ("-created_at",),
                "indexes": [
                    models.Index(fields=["tenant", "event_type", "correlation"], name="automate_runwait_match_idx"),
                    models.Index(
                        fields=["tenant", "kind", "resolved_at", "created_at"], name="automate_runwait_open_idx"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("run", "step_id", "attempt"), name="automate_runwait_unique_attempt"
                    )
                ],
            },
        ),
    ]
