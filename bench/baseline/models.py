"""The one table the baseline view writes to (created by ``migrate --run-syncdb``: no migrations)."""

from __future__ import annotations

from django.db import models


class Hit(models.Model):
    """One accepted request of the baseline view: its parsed JSON body and when it arrived."""

    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)

    objects: models.Manager[Hit] = models.Manager()  # spelled out: the type checker's settings lack this app

    class Meta:
        app_label = "baseline"

    def __str__(self) -> str:
        return f"hit {self.pk}"
