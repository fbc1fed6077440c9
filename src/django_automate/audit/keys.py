"""The keys of the audit chain (``AUTOMATE["AUDIT_KEYS"]``): the first signs, every key verifies.

An entry signed with a key records the key's id, a short fingerprint that names the key
without revealing it, so old entries keep verifying after a new key is put first. The keys
live in settings, outside the database: a role that can write the audit table but does not
know a key cannot produce an entry (or rewrite one) that verifies.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from django_automate import conf

#: Shortest key accepted by the system check (``automate.E045``): 32 bytes of key material.
MIN_KEY_LENGTH = 32


@dataclass(frozen=True)
class AuditKey:
    """One configured key and its id (the id is stored on each entry the key signed)."""

    id: str
    secret: bytes

    def sign(self, message: str) -> str:
        return hmac.new(self.secret, message.encode(), hashlib.sha256).hexdigest()


def key_id(secret: bytes) -> str:
    """The fingerprint stored with each entry: 12 hex digits of a domain-separated SHA-256."""
    return hashlib.sha256(b"django-automate audit key id:" + secret).hexdigest()[:12]


def configured() -> list[AuditKey]:
    """The configured keys in order (read at call time, so ``override_settings`` works)."""
    return [AuditKey(key_id(secret), secret) for secret in conf.audit_keys()]


def signing_key() -> AuditKey | None:
    """The key that signs new entries and checkpoints, or ``None`` when ``AUDIT_KEYS`` is empty."""
    keys = configured()
    return keys[0] if keys else None


def by_id() -> dict[str, AuditKey]:
    return {key.id: key for key in configured()}


def problems(keys: object) -> list[str]:
    """Why ``keys`` is not a usable ``AUDIT_KEYS`` value, one message per problem; keys are never echoed."""
    if not isinstance(keys, (list, tuple)):
        return ["must be a list of strings"]
    found = []
    for index, key in enumerate(keys):
        if not isinstance(key, (str, bytes)):
            found.append(f"entry {index} is not a string")
        elif len(key) < MIN_KEY_LENGTH:
            found.append(f"entry {index} is shorter than {MIN_KEY_LENGTH} characters")
    return found
