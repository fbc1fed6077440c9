"""``stripe``: ``Stripe-Signature: t=<timestamp>,v1=<hex>[,v1=<hex>…]``.

Each ``v1`` is HMAC-SHA256(secret, "<t>.<body>") with the endpoint secret (``whsec_…``) used
as it is; Stripe sends one ``v1`` per active secret while you roll it.
"""

from __future__ import annotations

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes.base import (
    MAX_SIGNATURES,
    Delivery,
    check_fresh,
    decode_hex_sha256,
    hmac_sha256,
    matches,
    parse_timestamp,
    require_header,
    secret_bytes,
)

HEADER = "stripe-signature"


def verify(delivery: Delivery) -> None:
    given = require_header(delivery, HEADER)
    raw_timestamp = ""
    signatures: list[str] = []
    for item in given.split(",")[: 4 * MAX_SIGNATURES]:
        name, _, value = item.strip().partition("=")
        if name == "t" and not raw_timestamp:
            raw_timestamp = value.strip()
        elif name == "v1":
            signatures.append(value)
    if not raw_timestamp or not signatures:
        raise exceptions.InvalidSignature(f"{HEADER!r} needs t= and at least one v1=.", details={"header": HEADER})
    timestamp = parse_timestamp(raw_timestamp, HEADER)
    message = f"{timestamp}.".encode() + delivery.body
    expected = [hmac_sha256(key, message) for key in secret_bytes(delivery.secrets)]
    if not matches(expected, [decode_hex_sha256(s) for s in signatures]):
        raise exceptions.InvalidSignature()
    check_fresh(delivery, timestamp)
