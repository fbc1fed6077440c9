"""Signature schemes, one module each; every one checks the raw body before anything parses it.

``verify()`` picks the endpoint's scheme and fails closed: an unknown scheme or a signed
scheme without a usable secret rejects every delivery.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes import github, hmac_sha256, slack, standard_webhooks, stripe
from django_automate.ingestion.webhooks.schemes.base import Delivery
from django_automate.models import SignatureScheme, WebhookEndpoint

Verifier = Callable[[Delivery], None]

VERIFIERS: dict[str, Verifier] = {
    SignatureScheme.HMAC_SHA256: hmac_sha256.verify,
    SignatureScheme.STANDARD_WEBHOOKS: standard_webhooks.verify,
    SignatureScheme.STRIPE: stripe.verify,
    SignatureScheme.GITHUB: github.verify,
    SignatureScheme.SLACK: slack.verify,
}

__all__ = ["VERIFIERS", "Delivery", "verify"]


def verify(
    endpoint: WebhookEndpoint,
    body: bytes,
    headers: Mapping[str, str],
    secrets: list[str],
    *,
    now: float | None = None,
) -> None:
    """Raise ``InvalidSignature`` / ``SignatureExpired`` unless the delivery is authentic."""
    if endpoint.scheme == SignatureScheme.NONE:
        return
    verifier = VERIFIERS.get(endpoint.scheme)
    if verifier is None:
        raise exceptions.InvalidSignature(
            f"Signature scheme {endpoint.scheme!r} is not supported.", details={"scheme": endpoint.scheme}
        )
    if not secrets:
        raise exceptions.InvalidSignature("The endpoint has no secret configured.")
    verifier(
        Delivery(
            body=body,
            headers=headers,
            secrets=tuple(secrets),
            now=time.time() if now is None else now,
            tolerance_seconds=endpoint.tolerance_seconds,
            signature_header=endpoint.signature_header,
            signature_encoding=endpoint.signature_encoding,
        )
    )
