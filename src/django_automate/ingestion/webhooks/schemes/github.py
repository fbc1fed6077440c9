"""``github``: ``X-Hub-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>``.

GitHub signs no timestamp; replays are caught by the ``X-GitHub-Delivery`` idempotency key.
"""

from __future__ import annotations

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes.base import (
    Delivery,
    decode_hex_sha256,
    hmac_sha256,
    matches,
    require_header,
    secret_bytes,
)

HEADER = "x-hub-signature-256"
PREFIX = "sha256="


def verify(delivery: Delivery) -> None:
    given = require_header(delivery, HEADER)
    if not given.startswith(PREFIX):
        raise exceptions.InvalidSignature(f"{HEADER!r} must start with {PREFIX!r}.", details={"header": HEADER})
    expected = [hmac_sha256(key, delivery.body) for key in secret_bytes(delivery.secrets)]
    if not matches(expected, [decode_hex_sha256(given[len(PREFIX) :])]):
        raise exceptions.InvalidSignature()
