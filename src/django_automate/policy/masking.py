"""Masking of resolved secret values, including the forms they take when encoded.

A secret that was resolved for a connector call can come back inside whatever the call
produced: an echoed response body, an exception message, a log line, a URL. It may come
back verbatim or encoded (base64, URL-encoded, JSON-escaped, hex). :func:`mask_text`
replaces every such form with ``[REDACTED]``, case-insensitively (hostnames come back
lower-cased, hex and percent-escapes in either case).

While a :func:`scope` is active, every log record created in the same context (thread or
task) is masked as well, whichever logger or handler it goes to.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import functools
import json
import logging
import re
import threading
import traceback
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
# Base64 fragments shorter than this are not masked on their own: they would match noise.
MIN_BASE64_FRAGMENT = 6


def _base64_forms(raw: bytes) -> set[str]:
    """The full encodings, plus the characters that depend only on ``raw`` at each 3-byte alignment.

    A secret embedded in a longer value (``user:secret`` in Basic auth) is encoded at an
    offset; only the characters fully determined by its own bits are stable, so those are
    what a search has to look for.
    """
    forms = {base64.b64encode(raw).decode(), base64.b64encode(raw).decode().rstrip("=")}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).decode().rstrip("=")
        start = -(-8 * offset // 6)  # ceil: first character not touched by the prefix
        end = 8 * (offset + len(raw)) // 6  # floor: last character not touched by what follows
        fragment = encoded[start:end]
        if len(fragment) >= MIN_BASE64_FRAGMENT:
            forms.add(fragment)
    forms |= {f.replace("+", "-").replace("/", "_") for f in forms}
    return forms


def secret_forms(value: str) -> set[str]:
    """Every form of ``value`` that masking looks for: raw, base64, URL-encoded, JSON-escaped, hex."""
    if not value:
        return set()
    raw = value.encode()
    forms = {value, raw.hex()}
    forms |= {quote(value, safe=""), quote(value), quote_plus(value)}
    for ensure_ascii in (True, False):
        escaped = json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(escaped, ensure_ascii=ensure_ascii)[1:-1]}
    forms |= _base64_forms(raw)
    return {form for form in forms if form}


@functools.lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    forms: set[str] = set()
    for secret in secrets:
        forms |= secret_forms(secret)
    if not forms:
        return None
    alternatives = sorted(forms, key=len, reverse=True)  # longest first: mask whole forms, not prefixes
    return re.compile("|".join(re.escape(form) for form in alternatives), re.IGNORECASE)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``[REDACTED]``."""
    pattern = _pattern(frozenset(s for s in secrets if s))
    if pattern is None or not text:
        return text
    return pattern.sub(REDACTED, text)


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """Mask every string (keys included) inside a JSON-like value."""
    frozen = frozenset(s for s in secrets if s)
    if not frozen:
        return value
    return _mask(value, frozen)


def _mask(value: Any, secrets: frozenset[str]) -> Any:
    if isinstance(value, str):
        return mask_text(value, secrets)
    if isinstance(value, dict):
        return {_mask(k, secrets): _mask(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_mask(v, secrets) for v in value)
    return value


# The values to mask in the current context (a step being executed), shared with its Resolver.
_active: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("automate_masked_values", default=None)


def active_values() -> set[str]:
    """The secret values resolved so far in the current masking scope (empty outside one)."""
    return set(_active.get() or ())


def mask_active(value: Any) -> Any:
    """Mask the current scope's resolved values inside ``value`` (a no-op outside a scope)."""
    values = _active.get()
    return mask(value, values) if values else value


@contextlib.contextmanager
def scope(values: set[str]) -> Iterator[set[str]]:
    """Mask ``values`` (a set that may still grow) in every log record created inside the block."""
    install_record_factory()
    token = _active.set(values)
    try:
        yield values
    finally:
        _active.reset(token)


def mask_record(record: logging.LogRecord, secrets: Iterable[str]) -> None:
    """Rewrite a log record in place so that its message, traceback and stack carry no secret form."""
    frozen = frozenset(s for s in secrets if s)
    if not frozen:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: keep the raw parts, masked
        message = f"{record.msg} {record.args}"
    record.msg, record.args = mask_text(message, frozen), ()
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        # Formatters and error reporters read exc_info directly; only the masked text survives.
        record.exc_info, record.exc_text = None, mask_text(text, frozen)
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text, frozen)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info, frozen)


_install_lock = threading.Lock()
_installed = False


def install_record_factory() -> None:
    """Wrap the logging record factory once, so records made inside a scope are masked at birth.

    A factory (unlike a filter) sees every record, whichever logger created it and whichever
    handler (console, file, error reporter) receives it.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            values = _active.get()
            if values:
                mask_record(record, values)
            return record

        logging.setLogRecordFactory(factory)
        _installed = True
