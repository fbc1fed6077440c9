"""Rollups behind the admin dashboard: closed time buckets counted once, so a page view reads little."""

from __future__ import annotations

from django.db import models

from django_automate.models.events import Event


class MetricKind(models.TextChoices):
    EVENT = "event", "Events received"
    STATUS = "status", "Runs finished, by status"
    RUN = "run", "Runs finished, by workflow and status"
    DURATION = "duration", "Runs finished, by workflow and duration bucket"
    #: Runs by workflow, status and duration bucket: a rollup's staging rows, deleted when it commits.
    DETAIL = "detail", "Runs finished (staging)"


class MetricRollup(models.Model):
    """How many events arrived, or runs finished, in one closed time block.

    ``span`` is the block's length: the windows' bucket (a minute or an hour), for every kind,
    and 4 and 16 times that for ``run`` and ``duration`` rows, so a window's per-workflow
    figures add up a few large blocks rather than every bucket. Runs count in the block of
    their ``finished_at``; ``duration_bucket`` is the log-scale bucket of their duration
    (``observability.dashboard.histogram``; -1 where it does not apply) and ``status`` is
    empty where it does not apply.
    """

    id = models.BigAutoField(primary_key=True)
    span = models.PositiveIntegerField(help_text="Block length in seconds.")
    bucket_start = models.DateTimeField()
    kind = models.CharField(max_length=8, choices=MetricKind.choices)
    workflow = models.ForeignKey(
        "automate.Workflow", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    status = models.CharField(max_length=16, blank=True, default="")
    duration_bucket = models.SmallIntegerField(default=-1)
    count = models.PositiveIntegerField()

    objects: models.Manager[MetricRollup] = models.Manager()

    class Meta:
        app_label = "automate"
        ordering = ("span", "kind", "bucket_start")
        indexes = [models.Index(fields=("span", "kind", "bucket_start"), name="automate_rollup_bucket_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.bucket_start:%Y-%m-%d %H:%M} x{self.count}"


class RollupMark(models.Model):
    """Up to where the buckets of one window span are rolled up (``rolled_until``: the first not yet done).

    Advancing it with a conditional update is how one process claims a range of buckets, so
    two page views never count the same bucket twice.
    """

    span = models.PositiveIntegerField(primary_key=True)
    rolled_until = models.DateTimeField()

    objects: models.Manager[RollupMark] = models.Manager()

    class Meta:
        app_label = "automate"

    def __str__(self) -> str:
        return f"{self.span}s buckets until {self.rolled_until:%Y-%m-%d %H:%M}"


class Dashboard(Event):
    """No data of its own: gives the dashboard its admin URL (``/admin/automate/dashboard/``) and index entry."""

    class Meta:
        app_label = "automate"
        proxy = True
        default_permissions = ()
        verbose_name = "dashboard"
        verbose_name_plural = "dashboard"
