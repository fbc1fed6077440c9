"""Building blocks shared by the signature schemes: headers, timestamps, constant-time matching."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django_automate import exceptions

# A sender puts at most a handful of signatures in one header (one per active secret).
MAX_SIGNATURES = 16
_HEX_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")


@dataclass(frozen=True)
class Delivery:
    """What a scheme verifies: the raw body, lower-cased headers and the endpoint's settings."""

    body: bytes
    headers: Mapping[str, str]
    secrets: tuple[str, ...]
    now: float
    tolerance_seconds: int = 300
    signature_header: str = ""
    signature_encoding: str = ""


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def require_header(delivery: Delivery, name: str) -> str:
    """The stripped value of header ``name``; a missing or empty one is ``invalid_signature``."""
    value = delivery.headers.get(name, "").strip()
    if not value:
        raise exceptions.InvalidSignature(f"Missing signature header {name!r}.", details={"header": name})
    return value


def parse_timestamp(value: str, header: str) -> int:
    """Unix seconds as sent by the scheme; anything else is ``invalid_signature``."""
    if not _TIMESTAMP.fullmatch(value):
        raise exceptions.InvalidSignature(f"Header {header!r} is not a Unix timestamp.", details={"header": header})
    return int(value)


def check_fresh(delivery: Delivery, timestamp: int) -> None:
    """Reject a signed timestamp further than the tolerance from now, in either direction.

    Called only after the signature matched, so ``signature_expired`` is never said to a
    forger. A tolerance of 0 turns the check off.
    """
    tolerance = delivery.tolerance_seconds
    if tolerance and abs(delivery.now - timestamp) > tolerance:
        raise exceptions.SignatureExpired(details={"timestamp": timestamp, "tolerance_seconds": tolerance})


def decode_hex_sha256(value: str) -> bytes | None:
    """The 32 bytes of a hex SHA-256 digest (either case), or ``None`` if ``value`` is not one."""
    value = value.strip()
    return bytes.fromhex(value) if _HEX_SHA256.fullmatch(value) else None


def decode_base64_sha256(value: str) -> bytes | None:
    """The 32 bytes of a base64 SHA-256 digest, or ``None`` if ``value`` is not one."""
    try:
        raw = base64.b64decode(value.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == hashlib.sha256().digest_size else None


def matches(expected: Iterable[bytes], given: Iterable[bytes | None]) -> bool:
    """Whether any given digest equals any expected one, comparing every pair in constant time."""
    candidates = [g for g in given if g is not None][:MAX_SIGNATURES]
    found = False
    for digest in expected:
        for candidate in candidates:
            found |= hmac.compare_digest(digest, candidate)
    return found


def header_bytes(value: str) -> bytes:
    """The bytes a sender put in a header: servers hand header values over decoded as Latin-1."""
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def secret_bytes(secrets: Iterable[str]) -> list[bytes]:
    """Secrets used as HMAC keys as they are (UTF-8), as GitHub, Stripe and Slack do."""
    return [secret.encode("utf-8", "surrogatepass") for secret in secrets]
