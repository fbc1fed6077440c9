"""Masking of resolved secret values, including the forms they take when encoded.

A secret that was resolved for a connector call can come back inside whatever the call
produced: an echoed response body, an exception message, a log line, a URL. It may come
back verbatim or encoded (base64, URL-encoded, JSON-escaped, hex). :func:`mask_text`
replaces every such form with ``[REDACTED]``, case-insensitively (hostnames come back
lower-cased, hex and percent-escapes in either case).

While a :func:`scope` is active, every log record created in the same context (thread or
task) is masked as well, all of its attributes, whichever logger or handler it goes to
(:func:`install_record_masking` says how).
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import email.quoprimime
import functools
import html
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
    """Every literal form of ``value`` that masking looks for: raw, base64, URL-encoded, JSON-escaped, hex.

    Forms in which each character is escaped on its own (percent-escapes, JSON, ``repr``)
    are also matched character by character (:func:`_flexible`), whichever characters a
    library chose to leave alone; these literal forms are the common cases, and the
    forms that are not per character (base64, hex, escapes of escapes).
    """
    if not value:
        return set()
    raw = value.encode()
    forms = {value, raw.hex()}
    forms |= {quote(value, safe=""), quote(value), quote_plus(value)}
    for ensure_ascii in (True, False):
        escaped = json.dumps(value, ensure_ascii=ensure_ascii)[1:-1]
        forms |= {escaped, escaped.replace("/", "\\/"), json.dumps(escaped, ensure_ascii=ensure_ascii)[1:-1]}
    forms |= {repr(value)[1:-1], repr(raw)[2:-1]}
    with contextlib.suppress(UnicodeError):
        if not value.isascii():
            forms.add("xn--" + value.encode("punycode").decode())  # a hostname label (IDNA)
    forms |= _base64_forms(raw)
    return {form for form in forms if form}


def _character_forms(char: str) -> set[str]:
    """How libraries write one character of a secret when they escape it (or not)."""
    data = char.encode()
    percent = "".join(f"%{byte:02X}" for byte in data)
    forms = {
        char,
        percent,  # urllib, httpx (which escapes only some characters of a path or query)
        percent.replace("%", "%25"),  # a URL-encoded URL
        "".join(f"={byte:02X}" for byte in data),  # quoted-printable, RFC 2047 "Q" headers
        "".join(f"\\x{byte:02x}" for byte in data),  # repr() of bytes (httpcore's debug log)
        html.escape(char),
        f"&#{ord(char)};",
        f"&#x{ord(char):x};",
    }
    for ensure_ascii in (True, False):
        forms.add(json.dumps(char, ensure_ascii=ensure_ascii)[1:-1])
    forms |= {repr(char)[1:-1], f"\\{char}", f"\\u{ord(char):04x}", f"\\U{ord(char):08x}"}
    if char == " ":
        forms |= {"+", "_", "\n ", "\r\n "}  # form encoding; "Q" headers; a folded mail header
    elif char == "/":
        forms.add("\\/")
    return forms


def _flexible(value: str) -> str:
    """A pattern matching ``value`` with each character written in any of its escaped forms.

    httpx, for one, percent-encodes a space in a query but leaves ``+ = & @ /``; other
    libraries make other choices, and a list of whole forms would miss some mixtures.
    """
    parts = []
    for char in value:
        if char.isascii() and char.isalnum():
            parts.append(re.escape(char))
            continue
        forms = sorted(_character_forms(char), key=len, reverse=True)
        parts.append("(?:" + "|".join(re.escape(form) for form in forms) + ")")
    return "".join(parts)


@functools.lru_cache(maxsize=256)
def _pattern(secrets: frozenset[str]) -> re.Pattern[str] | None:
    # Longest secret first, and its longest forms first: a secret that starts with another
    # one is masked whole, not up to where the shorter one ends.
    alternatives = []
    first: set[str] = set()  # the characters a match can start with
    for secret in sorted(secrets, key=lambda s: (-len(s), s)):
        forms = sorted(secret_forms(secret), key=lambda f: (-len(f), f))
        alternatives += [re.escape(form) for form in forms]
        alternatives.append(_flexible(secret))
        first |= {form[0] for form in forms} | {form[0] for form in _character_forms(secret[0])}
    if not alternatives:
        return None
    # The lookahead lets the engine skip, at one test per position, text no form can start at.
    starts = "".join(sorted(re.escape(char) for char in first))
    return re.compile(f"(?=[{starts}])(?:{'|'.join(alternatives)})", re.IGNORECASE)


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every form of every secret replaced by ``[REDACTED]``."""
    pattern = _pattern(frozenset(s for s in secrets if s))
    if pattern is None or not text:
        return text
    masked = pattern.sub(REDACTED, text)
    if "=?" in masked:  # RFC 2047 words: a header may encode only the non-ASCII part of a secret
        decoded = _decode_encoded_words(masked)
        if decoded != masked:
            redecoded = pattern.sub(REDACTED, decoded)
            if redecoded != decoded:
                return redecoded
    return masked


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
_BETWEEN_WORDS = re.compile(r"(?<=\?=)\s+(?==\?[^?\s]+\?[bBqQ]\?)")
_FOLD = re.compile(r"[ \t]*\r?\n[ \t]+")


def _decode_encoded_words(text: str) -> str:
    """Mail header text as a reader sees it: folds undone, encoded words decoded and joined."""

    def decode(match: re.Match[str]) -> str:
        charset, kind, payload = match.groups()
        try:
            if kind in "bB":
                data = base64.b64decode(payload + "=" * (-len(payload) % 4))
            else:
                data = email.quoprimime.header_decode(payload).encode("latin-1")
            return data.decode(charset, "replace")
        except (ValueError, LookupError):
            return match.group(0)

    return _ENCODED_WORD.sub(decode, _BETWEEN_WORDS.sub("", _FOLD.sub(" ", text)))


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
    install_record_masking()
    token = _active.set(values)
    try:
        yield values
    finally:
        _active.reset(token)


def excerpt(text: str, limit: int) -> str:
    """The first ``limit`` characters of ``text``, masked *before* it is cut.

    Cutting first could leave a prefix of a secret (or of one of its encoded forms) that no
    longer matches as a whole; use this wherever an error message or detail is shortened.
    """
    return str(mask_active(text))[:limit]


# Set by the logging machinery, never by ``extra=`` (which may not overwrite them).
_HANDLED = {"msg", "args", "exc_info", "exc_text", "stack_info", "levelno", "levelname", "created", "msecs"}
_MAX_DEPTH = 20


def mask_record(record: logging.LogRecord, secrets: Iterable[str]) -> None:
    """Rewrite a log record in place so that no attribute carries a secret form.

    The message (with its arguments merged in), the traceback, the stack and every other
    attribute (``extra=`` values of any type, nested ones included) are masked.
    """
    frozen = frozenset(s for s in secrets if s)
    if not frozen:
        return
    try:
        message = record.getMessage()
    except Exception:  # a malformed format string: keep the raw parts, masked
        message = f"{record.msg} {record.args}"
    masked = mask_text(message, frozen)
    if masked != message:
        record.msg, record.args = masked, ()
    if record.exc_info and record.exc_info[0] is not None:
        text = record.exc_text or "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        # Formatters and error reporters read exc_info directly; only the masked text survives.
        record.exc_info, record.exc_text = None, mask_text(text, frozen)
    elif record.exc_text:
        record.exc_text = mask_text(record.exc_text, frozen)
    if record.stack_info:
        record.stack_info = mask_text(record.stack_info, frozen)
    for name, value in list(record.__dict__.items()):
        if name not in _HANDLED:
            replacement = _mask_attribute(value, frozen, 0)
            if replacement is not value:
                setattr(record, name, replacement)


def _mask_attribute(value: Any, secrets: frozenset[str], depth: int) -> Any:
    """``value`` itself when it holds no secret form; else a masked copy (text for unknown types)."""
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        masked = mask_text(value, secrets)
        return value if masked == value else masked
    if isinstance(value, (bytes, bytearray)):
        text = bytes(value).decode("utf-8", "replace")
        masked = mask_text(text, secrets)
        return value if masked == text else masked
    if depth < _MAX_DEPTH and isinstance(value, (dict, list, tuple, set, frozenset)):
        items = list(value.items()) if isinstance(value, dict) else list(value)
        masked_items = [_mask_attribute(item, secrets, depth + 1) for item in items]
        if all(a is b for a, b in zip(items, masked_items, strict=True)):
            return value
        if isinstance(value, dict):
            return dict(masked_items)
        if isinstance(value, list) or type(value) not in (tuple, set, frozenset):
            return masked_items  # a list, or a subclass (named tuple) whose constructor differs
        return type(value)(masked_items)
    # Any other object is written by a formatter through str() or repr(): mask what it would write.
    try:
        texts = {str(value), repr(value)}
    except Exception:
        return value
    for text in texts:
        masked = mask_text(text, secrets)
        if masked != text:
            return masked
    return value


_install_lock = threading.Lock()
_installed = False


def install_record_masking() -> None:
    """Wrap ``logging.Logger.makeRecord`` once, so records made inside a scope are masked at birth.

    Why there: ``makeRecord`` is where every logger (the root, httpx, httpcore, yours) builds
    its records, and it adds the ``extra=`` values only *after* the record factory returns,
    so a factory never sees them. A filter would not do either: logger filters skip records
    propagated from child loggers, handler filters must be configured on every handler (and
    error reporters hooked into logging have none), and handlers that pass records to another
    thread (``QueueHandler``) run there, outside the step's context. Masked at creation, a
    record carries no secret form to any of them.
    """
    global _installed
    if _installed:
        return
    with _install_lock:
        if _installed:
            return
        original = logging.Logger.makeRecord

        @functools.wraps(original)
        def make_record(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
            record = original(self, *args, **kwargs)
            values = _active.get()
            if values:
                mask_record(record, values)
            return record

        setattr(logging.Logger, "makeRecord", make_record)  # noqa: B010 (a method assignment mypy refuses)
        _installed = True
