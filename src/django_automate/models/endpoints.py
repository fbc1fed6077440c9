"""Webhook endpoints: where outside systems deliver events."""

from __future__ import annotations

from django.db import models

from django_automate.models.base import JSONField, tenant_field, uuid_pk


class SignatureScheme(models.TextChoices):
    NONE = "none", "No signature"
    HMAC_SHA256 = "hmac_sha256", "HMAC-SHA256"
    STANDARD_WEBHOOKS = "standard_webhooks", "Standard Webhooks"
    STRIPE = "stripe", "Stripe"
    GITHUB = "github", "GitHub"
    SLACK = "slack", "Slack"


class WebhookEndpoint(models.Model):
    """A URL (``/automate/hooks/<slug>/``) that turns verified requests into Events."""

    id = uuid_pk()
    tenant = tenant_field()
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, blank=True)
    event_type = models.CharField(
        max_length=255,
        help_text='Event type; may contain "{{ body.<path> }}" and "{{ headers.<lower-case-name> }}".',
    )
    scheme = models.CharField(max_length=32, choices=SignatureScheme.choices, default=SignatureScheme.NONE)
    secrets = JSONField(default=list, blank=True, help_text='SecretRef strings, e.g. ["$secret:GH_HOOK"].')
    signature_header = models.CharField(
        max_length=100, blank=True, help_text="Header carrying the signature (hmac_sha256); blank for the default."
    )
    signature_encoding = models.CharField(
        max_length=16,
        blank=True,
        choices=[("hex", "Hex"), ("base64", "Base64")],
        help_text="Encoding of the hmac_sha256 signature; blank accepts either.",
    )
    tolerance_seconds = models.PositiveIntegerField(default=300)
    max_body_bytes = models.PositiveIntegerField(default=1024 * 1024)
    idempotency = models.CharField(
        max_length=255,
        default="auto",
        help_text='"auto" (Idempotency-Key header, then the scheme\'s id, then sha256 of the body), '
        '"header:<name>", "body:<path>" or "body_hash".',
    )
    store_headers = JSONField(
        default=list,
        blank=True,
        help_text="Lower-case names of request headers to store with events; empty stores all but credentials.",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Deliveries accepted per minute; empty means unlimited."
    )
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "automate"
        ordering = ("slug",)

    def __str__(self) -> str:
        return self.slug
