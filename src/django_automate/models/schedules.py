"""Schedules and worker heartbeats."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, uuid_pk


class Schedule(models.Model):
    """Emits ``schedule.<name>`` events on a cron expression or a fixed interval."""

    class CatchUp(models.TextChoices):
        RUN_ONCE = "run_once", "Emit one event for the missed ticks"
        SKIP = "skip", "Skip missed ticks"

    id = uuid_pk()
    tenant = tenant_field()
    name = models.CharField(max_length=100)
    cron = models.CharField(max_length=100, blank=True)
    interval_seconds = models.PositiveIntegerField(null=True, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    payload = JSONField(default=dict, blank=True)
    catch_up = models.CharField(max_length=16, choices=CatchUp.choices, default=CatchUp.RUN_ONCE)
    enabled = models.BooleanField(default=True)
    next_tick_at = models.DateTimeField(null=True, blank=True)
    last_tick_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("tenant", "name"), name="automate_schedule_unique_name")]

    def __str__(self) -> str:
        return self.name


class WorkerHeartbeat(models.Model):
    """One row per worker process start; ``last_seen_at`` is refreshed while it lives."""

    id = models.CharField(primary_key=True, max_length=128)
    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    queues = JSONField(default=list)
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("-last_seen_at",)

    def __str__(self) -> str:
        return self.id
