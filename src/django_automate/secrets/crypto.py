"""Encryption of stored secrets with Fernet (AES-128-CBC + HMAC-SHA256) and several keys.

``AUTOMATE["ENCRYPTION_KEYS"]`` lists Fernet keys; the first encrypts, every key decrypts
(``MultiFernet``), so a new key can be put first, ``manage.py automate rotate-keys`` run,
and the old key dropped afterwards. Anything that cannot be decrypted fails closed: an
error, never a fallback value.
"""

from __future__ import annotations

import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from django_automate import conf, exceptions


class EncryptionNotConfigured(exceptions.ImproperlyConfigured):
    """No valid encryption key is configured in AUTOMATE['ENCRYPTION_KEYS'].

    A request that would store a secret answers ``400 encryption_not_configured`` rather than
    a server error: the deployment can still read secrets from the environment or settings.
    """

    code = "encryption_not_configured"
    status = 400


class SecretDecryptionFailed(exceptions.AutomateError):
    """A stored secret could not be decrypted with any configured key."""

    code = "secret_decryption_failed"
    status = 500


def key_problems(keys: object) -> list[str]:
    """Why ``keys`` is not a usable key list, one message per problem; the keys themselves are never echoed."""
    if not isinstance(keys, (list, tuple)):
        return ["must be a list of Fernet keys"]
    problems = []
    for index, key in enumerate(keys):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            problems.append(f"entry {index} is not a Fernet key (32 url-safe base64-encoded bytes)")
    return problems


def fingerprint(key: str) -> str:
    """A short, non-reversible identifier of a key, for audit entries and messages."""
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def multi_fernet() -> MultiFernet:
    """The configured keys, read at call time (so ``override_settings`` works)."""
    return _multi_fernet(tuple(conf.encryption_keys()))


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise EncryptionNotConfigured(
            "Storing secrets in the database needs at least one key in AUTOMATE['ENCRYPTION_KEYS']."
        )
    if key_problems(list(keys)):
        raise EncryptionNotConfigured("AUTOMATE['ENCRYPTION_KEYS'] contains an invalid key (see manage.py check).")
    return MultiFernet([Fernet(key) for key in keys])


def encrypt(value: str) -> str:
    return multi_fernet().encrypt(value.encode()).decode()


def decrypt(token: str, *, name: str = "") -> str:
    """The plaintext of ``token``; :class:`SecretDecryptionFailed` if no configured key opens it."""
    try:
        return multi_fernet().decrypt(token.encode()).decode()
    except (InvalidToken, UnicodeDecodeError) as exc:
        raise SecretDecryptionFailed(
            f"Secret {name!r} cannot be decrypted with the configured keys.", details={"secret": name}
        ) from exc


def reencrypt(token: str, *, name: str = "") -> str:
    """``token`` re-encrypted with the first key (the timestamp is kept); fails closed like :func:`decrypt`."""
    try:
        return multi_fernet().rotate(token.encode()).decode()
    except InvalidToken as exc:
        raise SecretDecryptionFailed(
            f"Secret {name!r} cannot be decrypted with the configured keys.", details={"secret": name}
        ) from exc
