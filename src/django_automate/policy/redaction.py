"""Key-based redaction and masking of resolved secret values: one place, used everywhere.

Used by the logging filter, the admin, the API serializers and the stored step input/output.

Key names are compared word by word, not by substring: ``apiKey``, ``api_key``, ``X-Api-Key``
and ``API-KEY`` are all the words ``api key``, so ``keys_url`` (a GitHub URL template) and a
``private`` flag are no longer hidden because they happen to contain ``key`` or ``private``.
See docs/governance.md for the rules and the two settings that adjust them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import Any

from django_automate import conf
from django_automate.policy import masking

REDACTED = masking.REDACTED
#: Sensitive words, matched as whole words of a key name (a plural ``s`` included).
DEFAULT_KEYS = (
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "key",
    "authorization",
    "cookie",
    "session",
    "credential",
    "signature",
    "private",
    # Common names written as one word, which word splitting cannot take apart.
    "apikey",
    "accesstoken",
    "authtoken",
    "refreshtoken",
    "csrftoken",
    "sessionid",
    "secretkey",
    "privatekey",
)
#: Words that name a secret only in one position: ``key`` when it is the last word (``api_key``,
#: ``privateKey``, ``ssh_keys``, not ``keys_url`` or ``key_id``); ``private`` when another word
#: follows it (``private_key``, ``private_note``, not a ``private`` or ``is_private`` flag).
LAST_WORD_ONLY = frozenset({"key"})
BEFORE_A_WORD_ONLY = frozenset({"private"})
#: Words that also count at the end of a one-word compound (``newpassword``, ``clientsecret``,
#: ``apitoken``, as lower-case form fields and headers spell them), which word splitting cannot take apart.
COMPOUND_ENDINGS = frozenset({"password", "passwd", "passphrase", "secret", "token", "credential"})

_PARTS = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")


@functools.lru_cache(maxsize=4096)
def words(name: str) -> tuple[str, ...]:
    """The lower-case words of a key name: snake_case, kebab-case, camelCase, dotted or spaced."""
    return tuple(part.lower() for part in _PARTS.findall(name))


def sensitive_keys() -> tuple[str, ...]:
    """The defaults minus ``REDACT_KEYS_EXCLUDE``, plus ``REDACT_KEYS``, lower-cased."""
    excluded = {key.lower() for key in conf.redact_keys_exclude()}
    extra = tuple(key.lower() for key in conf.extra_redact_keys())
    return tuple(key for key in DEFAULT_KEYS if key not in excluded) + extra


def is_sensitive(key: str, keys: Iterable[str] | None = None) -> bool:
    """Whether values under ``key`` are hidden: one of ``keys`` appears among its words."""
    return _matches(words(key), tuple(keys if keys is not None else sensitive_keys()))


@functools.lru_cache(maxsize=4096)
def _matches(name: tuple[str, ...], keys: tuple[str, ...]) -> bool:
    return any(_contains(name, words(term), term) for term in keys)


def _contains(name: tuple[str, ...], term: tuple[str, ...], raw: str) -> bool:
    """Whether ``term``'s words appear consecutively in ``name`` (the last one possibly plural)."""
    if not term:
        return False
    if raw in COMPOUND_ENDINGS and any(word.endswith((raw, raw + "s")) for word in name):
        return True
    size = len(term)
    for start in range(len(name) - size + 1):
        window = name[start : start + size]
        if window[:-1] != term[:-1] or window[-1] not in (term[-1], term[-1] + "s"):
            continue
        end = start + size
        if raw in LAST_WORD_ONLY and end != len(name):
            continue
        if raw in BEFORE_A_WORD_ONLY and end == len(name):
            continue
        return True
    return False


def redact(value: Any, keys: tuple[str, ...] | None = None) -> Any:
    """Replace values under sensitive keys (matched word by word, case-insensitive) with ``[REDACTED]``."""
    keys = keys if keys is not None else sensitive_keys()
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive(str(k), keys) else redact(v, keys) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, keys) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v, keys) for v in value)
    return value


def mask_values(value: Any, secrets: Iterable[str]) -> Any:
    """Replace every resolved secret value inside strings (and keys) with ``[REDACTED]``.

    Not only the raw value: its base64, URL-encoded, JSON-escaped and hex forms too, in any
    letter case (see :mod:`django_automate.policy.masking`).
    """
    return masking.mask(value, secrets)


def present(value: Any, *, raw: bool = False) -> Any:
    """What admin and API show of a payload: redacted, unless ``raw`` (the caller checked the permission)."""
    return value if raw else redact(value)
