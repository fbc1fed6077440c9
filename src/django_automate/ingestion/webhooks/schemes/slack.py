"""``slack``: ``X-Slack-Signature: v0=<hex HMAC-SHA256(secret, "v0:<timestamp>:<body>")>``.

The timestamp comes from ``X-Slack-Request-Timestamp`` and must be within the tolerance.
"""

from __future__ import annotations

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes.base import (
    Delivery,
    check_fresh,
    decode_hex_sha256,
    hmac_sha256,
    matches,
    parse_timestamp,
    require_header,
    secret_bytes,
)

SIGNATURE_HEADER = "x-slack-signature"
TIMESTAMP_HEADER = "x-slack-request-timestamp"
VERSION = "v0"


def verify(delivery: Delivery) -> None:
    given = require_header(delivery, SIGNATURE_HEADER)
    raw_timestamp = require_header(delivery, TIMESTAMP_HEADER)
    timestamp = parse_timestamp(raw_timestamp, TIMESTAMP_HEADER)
    version, _, digest = given.partition("=")
    if version != VERSION:
        raise exceptions.InvalidSignature(f"Only {VERSION} Slack signatures are supported.")
    message = f"{VERSION}:{raw_timestamp}:".encode() + delivery.body
    expected = [hmac_sha256(key, message) for key in secret_bytes(delivery.secrets)]
    if not matches(expected, [decode_hex_sha256(digest)]):
        raise exceptions.InvalidSignature()
    check_fresh(delivery, timestamp)
