"""Flow control held in the database, shared by every worker and host (SPEC §14)."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import tenant_field

#: How much of a bucket's key is kept for display (the bucket is found by the key's hash).
KEY_DISPLAY_LENGTH = 255


class RateLimitBucket(models.Model):
    """The token bucket of one step ``rate_limit`` key within one tenant.

    ``tokens`` is the balance at ``updated_at``; the refill since then (elapsed seconds times
    the step's ``per_second``, capped at its ``burst``) is computed when a token is taken.
    """

    id = models.BigAutoField(primary_key=True)
    tenant = tenant_field()
    key_hash = models.CharField(max_length=64, help_text="SHA-256 of the rendered key.")
    key = models.CharField(max_length=KEY_DISPLAY_LENGTH, help_text="The rendered key (its start, if longer).")
    tokens = models.FloatField()
    updated_at = models.DateTimeField()

    objects: models.Manager[RateLimitBucket] = models.Manager()

    class Meta:
        app_label = "automate"
        ordering = ("tenant", "key")
        constraints = [
            models.UniqueConstraint(fields=("tenant", "key_hash"), name="automate_ratelimitbucket_unique_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.tokens:.2f} tokens)"
