"""``hmac_sha256``: a configurable header holding HMAC-SHA256(secret, body), hex or base64."""

from __future__ import annotations

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes.base import (
    Delivery,
    decode_base64_sha256,
    decode_hex_sha256,
    hmac_sha256,
    matches,
    require_header,
    secret_bytes,
)

DEFAULT_HEADER = "x-signature-256"
PREFIX = "sha256="


def verify(delivery: Delivery) -> None:
    """``<header>: [sha256=]<digest>``; ``signature_encoding`` pins hex or base64, blank takes either."""
    header = (delivery.signature_header or DEFAULT_HEADER).strip().lower()
    given = require_header(delivery, header)
    if given[: len(PREFIX)].lower() == PREFIX:
        given = given[len(PREFIX) :]
    encoding = delivery.signature_encoding
    candidates = []
    if encoding in ("", "hex"):
        candidates.append(decode_hex_sha256(given))
    if encoding in ("", "base64"):
        candidates.append(decode_base64_sha256(given))
    expected = [hmac_sha256(key, delivery.body) for key in secret_bytes(delivery.secrets)]
    if not matches(expected, candidates):
        raise exceptions.InvalidSignature()
