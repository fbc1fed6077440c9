"""Secrets stored encrypted in the database, budgets and their usage windows."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import tenant_field, uuid_pk


class Secret(models.Model):
    """A secret value encrypted with the configured keys; the plaintext is never stored."""

    id = uuid_pk()
    tenant = tenant_field()
    name = models.CharField(max_length=200)
    ciphertext = models.TextField(editable=False)
    description = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("name",)
        constraints = [models.UniqueConstraint(fields=("tenant", "name"), name="automate_secret_unique_name")]
        permissions = [("manage_secrets", "Can manage secrets")]

    def __str__(self) -> str:
        return self.name


class Budget(models.Model):
    """A limit on runs, steps or cost per period, enforced by the runtime."""

    class Metric(models.TextChoices):
        RUNS = "runs", "Runs"
        STEPS = "steps", "Steps"
        COST = "cost", "Cost"

    class Period(models.TextChoices):
        MINUTE = "minute", "Minute"
        HOUR = "hour", "Hour"
        DAY = "day", "Day"
        MONTH = "month", "Month"

    class OnExceed(models.TextChoices):
        BLOCK = "block", "Block"
        DEFER = "defer", "Defer to the next window"

    id = uuid_pk()
    tenant = tenant_field()
    scope = models.CharField(max_length=200, help_text='"global", "tenant:<t>", "workflow:<slug>", "connector:<type>".')
    metric = models.CharField(max_length=16, choices=Metric.choices)
    limit = models.DecimalField(max_digits=18, decimal_places=6)
    period = models.CharField(max_length=16, choices=Period.choices)
    on_exceed = models.CharField(max_length=16, choices=OnExceed.choices, default=OnExceed.BLOCK)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("scope", "metric")

    def __str__(self) -> str:
        return f"{self.scope} {self.metric} <= {self.limit}/{self.period}"


class BudgetUsage(models.Model):
    """Consumption of one budget in one period window; updated atomically."""

    id = models.BigAutoField(primary_key=True)
    budget = models.ForeignKey(Budget, on_delete=models.CASCADE, related_name="usage")
    window_start = models.DateTimeField()
    used = models.DecimalField(max_digits=18, decimal_places=6, default=0)

    class Meta:
        app_label = "automate"
        ordering = ("-window_start",)
        constraints = [
            models.UniqueConstraint(fields=("budget", "window_start"), name="automate_budgetusage_unique_window")
        ]

    def __str__(self) -> str:
        return f"{self.budget_id} @ {self.window_start:%Y-%m-%d %H:%M}: {self.used}"
