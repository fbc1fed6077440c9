"""Signature verification on the raw body, before anything parses it."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping

from django_automate import exceptions
from django_automate.models import SignatureScheme, WebhookEndpoint

DEFAULT_HMAC_HEADER = "X-Signature-256"

Verifier = Callable[[WebhookEndpoint, bytes, Mapping[str, str], list[str]], None]


def _verify_none(endpoint: WebhookEndpoint, body: bytes, headers: Mapping[str, str], secrets: list[str]) -> None:
    return None


def _verify_hmac_sha256(endpoint: WebhookEndpoint, body: bytes, headers: Mapping[str, str], secrets: list[str]) -> None:
    """``<header>: [sha256=]<hex or base64 of HMAC-SHA256(secret, body)>``; any active secret may match."""
    header = (endpoint.signature_header or DEFAULT_HMAC_HEADER).lower()
    given = headers.get(header, "").strip()
    if not given:
        raise exceptions.InvalidSignature(f"Missing signature header {header!r}.", details={"header": header})
    if given.lower().startswith("sha256="):
        given = given[len("sha256=") :]
    for secret in secrets:
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        for expected in (digest.hex(), base64.b64encode(digest).decode()):
            if hmac.compare_digest(expected.encode(), given.encode()):
                return
    raise exceptions.InvalidSignature()


VERIFIERS: dict[str, Verifier] = {
    SignatureScheme.NONE: _verify_none,
    SignatureScheme.HMAC_SHA256: _verify_hmac_sha256,
}


def verify(endpoint: WebhookEndpoint, body: bytes, headers: Mapping[str, str], secrets: list[str]) -> None:
    """Raise InvalidSignature / SignatureExpired unless the request is authentic. Fails closed."""
    verifier = VERIFIERS.get(endpoint.scheme)
    if verifier is None:
        raise exceptions.InvalidSignature(
            f"Signature scheme {endpoint.scheme!r} is not supported.", details={"scheme": endpoint.scheme}
        )
    if endpoint.scheme != SignatureScheme.NONE and not secrets:
        raise exceptions.InvalidSignature("The endpoint has no secret configured.")
    verifier(endpoint, body, headers, secrets)
