"""System checks for ``AUTOMATE["ENCRYPTION_KEYS"]`` (ids automate.E040 to E041, W040, W042)."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from django_automate.secrets.crypto import key_problems

HINT = "Generate a key with: python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


def key_messages() -> list[CheckMessage]:
    user = getattr(settings, "AUTOMATE", None)
    if not isinstance(user, dict) or "ENCRYPTION_KEYS" not in user:
        return []
    keys = user["ENCRYPTION_KEYS"]
    if not isinstance(keys, (list, tuple)):
        return [Error("AUTOMATE['ENCRYPTION_KEYS'] must be a list of Fernet keys.", hint=HINT, id="automate.E040")]
    messages: list[CheckMessage] = [
        Error(f"AUTOMATE['ENCRYPTION_KEYS']: {problem}.", hint=HINT, id="automate.E041")
        for problem in key_problems(keys)
    ]
    normalized = [k.decode() if isinstance(k, bytes) else k for k in keys]
    if len(set(map(str, normalized))) != len(normalized):
        messages.append(
            Warning(
                "AUTOMATE['ENCRYPTION_KEYS'] lists the same key more than once.",
                hint="Keep each key once: the first encrypts, the others only decrypt until rotate-keys ran.",
                id="automate.W040",
            )
        )
    return messages


def missing_key_messages() -> list[CheckMessage]:
    """``check --deploy``: without a key, secrets cannot be stored in the database (W042)."""
    user = getattr(settings, "AUTOMATE", None)
    if isinstance(user, dict) and user.get("ENCRYPTION_KEYS"):
        return []
    return [
        Warning(
            "AUTOMATE['ENCRYPTION_KEYS'] is not set: secrets cannot be stored in the database "
            "(POST secrets/ and the admin answer encryption_not_configured).",
            hint=HINT + " Secrets from the environment (AUTOMATE_SECRET_<NAME>) work without a key.",
            id="automate.W042",
        )
    ]
