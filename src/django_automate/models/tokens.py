"""API tokens: shown once at creation, stored only as a hash."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from django_automate.models.base import tenant_field, uuid_pk


class ApiToken(models.Model):
    """A bearer token for the REST API, acting as ``user`` within ``tenant``.

    Only ``prefix`` (for lookup and display) and the sha256 ``key_hash`` are stored.
    """

    id = uuid_pk()
    tenant = tenant_field()
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="automate_tokens")
    name = models.CharField(max_length=100, blank=True)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "automate"
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user_id})"
