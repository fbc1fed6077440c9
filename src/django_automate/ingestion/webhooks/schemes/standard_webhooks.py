"""``standard_webhooks`` (Standard Webhooks, Svix): ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``.

The signature header holds space-separated ``v1,<base64>`` entries (several while a secret
rotates) of HMAC-SHA256(key, "<id>.<timestamp>.<body>"); the key is the base64 part of a
``whsec_…`` secret. Svix's ``svix-id`` / ``svix-timestamp`` / ``svix-signature`` are accepted too.
"""

from __future__ import annotations

import base64
import binascii
import logging

from django_automate import exceptions
from django_automate.ingestion.webhooks.schemes.base import (
    MAX_SIGNATURES,
    Delivery,
    check_fresh,
    decode_base64_sha256,
    header_bytes,
    hmac_sha256,
    matches,
    parse_timestamp,
    require_header,
)
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"
PREFIXES = ("webhook-", "svix-")


def signing_key(secret: str) -> bytes | None:
    """The HMAC key of a ``whsec_<base64>`` (or bare base64) secret; ``None`` when it is not one."""
    encoded = secret.strip()
    if encoded.startswith(SECRET_PREFIX):
        encoded = encoded[len(SECRET_PREFIX) :]
    try:
        key = base64.b64decode(encoded.encode("ascii") + b"==")
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return key or None


def verify(delivery: Delivery) -> None:
    sent = (p for p in PREFIXES if any(delivery.headers.get(p + n) for n in ("id", "timestamp", "signature")))
    prefix = next(sent, PREFIXES[0])
    msg_id = require_header(delivery, prefix + "id")
    raw_timestamp = require_header(delivery, prefix + "timestamp")
    given = require_header(delivery, prefix + "signature")
    timestamp = parse_timestamp(raw_timestamp, prefix + "timestamp")
    keys = [key for key in (signing_key(s) for s in delivery.secrets) if key is not None]
    if len(keys) < len(delivery.secrets):
        logger.error("An endpoint secret is not a whsec_ base64 secret", extra=log_extra("webhook_secret_unusable"))
    if not keys:
        raise exceptions.InvalidSignature("The endpoint's secret is not usable for this scheme.")
    signatures = []
    for entry in given.split()[:MAX_SIGNATURES]:
        version, _, signature = entry.partition(",")
        if version == "v1":
            signatures.append(decode_base64_sha256(signature))
    message = header_bytes(msg_id) + f".{raw_timestamp}.".encode() + delivery.body
    if not matches([hmac_sha256(key, message) for key in keys], signatures):
        raise exceptions.InvalidSignature()
    check_fresh(delivery, timestamp)
