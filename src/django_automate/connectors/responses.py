"""Reading HTTP responses for connectors: a size cap that holds for compressed bodies, status mapping.

Status handling: 2xx succeeds; 408, 425, 429 and 5xx raise :class:`HttpRetryableError`
(with ``Retry-After`` honoured); 410 raises :class:`HttpGone`, which no setting makes
retryable; every other status raises :class:`HttpStatusError` (permanent).
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import zlib
from collections.abc import Collection
from typing import Any

import httpx

from django_automate.connectors.base import ConnectorError, PermanentError, RetryableError
from django_automate.policy import masking

RETRYABLE_STATUSES = frozenset({408, 425, 429})
BODY_EXCERPT_CHARS = 500


class HttpStatusError(PermanentError):
    """The server answered with a status that retrying will not change."""

    code = "http_error"


class HttpGone(HttpStatusError):
    """The server answered 410 Gone: the resource is permanently unavailable."""

    code = "http_gone"


class HttpRetryableError(RetryableError):
    """The server answered with a status worth retrying (408, 425, 429, 5xx)."""

    code = "http_error"


class ResponseTooLarge(PermanentError):
    """The response body exceeds the size cap."""

    code = "response_too_large"


class InvalidResponse(PermanentError):
    """The response could not be read as requested."""

    code = "invalid_response"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date); ``None`` if absent or invalid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


class _Inflater:
    """gzip/deflate decoding that never produces more than it is asked for."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._zlib = zlib.decompressobj(16 + zlib.MAX_WBITS if encoding == "gzip" else zlib.MAX_WBITS)
        self._started = False

    def feed(self, data: bytes, room: int) -> bytes:
        try:
            out = self._zlib.decompress(data, room + 1)
        except zlib.error as exc:
            if self.encoding != "deflate" or self._started:
                raise InvalidResponse(f"The {self.encoding} response body is corrupt.") from exc
            self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent without the zlib header
            out = self._zlib.decompress(data, room + 1)
        self._started = True
        if self._zlib.unconsumed_tail:
            out += b"\0"  # more output is pending: over the cap
        return out


def read_body(response: httpx.Response, limit: int) -> bytes:
    """The (decoded) body, refusing more than ``limit`` bytes before or after decompression."""
    encodings = [e.strip().lower() for e in response.headers.get("content-encoding", "").split(",") if e.strip()]
    encodings = [e for e in encodings if e != "identity"]
    if len(encodings) > 1 or (encodings and encodings[0] not in ("gzip", "deflate", "x-gzip")):
        raise InvalidResponse(f"Unsupported Content-Encoding {', '.join(encodings)!r}.")
    inflater = _Inflater("gzip" if encodings[0] == "x-gzip" else encodings[0]) if encodings else None
    declared = response.headers.get("content-length", "")
    if inflater is None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    body = bytearray()
    for chunk in response.iter_raw():
        body += inflater.feed(chunk, limit - len(body)) if inflater else chunk
        if len(body) > limit:
            raise _too_large(limit)
    return bytes(body)


def _too_large(limit: int) -> ResponseTooLarge:
    return ResponseTooLarge(f"The response body exceeds {limit} bytes.", details={"max_response_bytes": limit})


def is_json_type(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def decode_text(response: httpx.Response, body: bytes) -> str:
    return body.decode(response.charset_encoding or "utf-8", errors="replace")


def parse_body(response: httpx.Response, body: bytes, response_format: str = "auto") -> dict[str, Any]:
    """``{"json": …}`` or ``{"text": …}``: JSON when asked for, or (``auto``) when the content type says so."""
    text = decode_text(response, body)
    wants_json = response_format == "json" or (
        response_format == "auto" and is_json_type(response.headers.get("content-type", ""))
    )
    if wants_json and text.strip():
        try:
            return {"json": json.loads(text)}
        except ValueError as exc:
            if response_format == "json":
                raise InvalidResponse("The response body is not valid JSON.") from exc
    if response_format == "json":
        return {"json": None}
    return {"text": text}


def status_error(
    response: httpx.Response, body: bytes, *, retry_statuses: Collection[int] = (), what: str = "HTTP"
) -> ConnectorError | None:
    """The error for a non-2xx response, or ``None`` for 2xx."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    details: dict[str, Any] = {
        "status": status,
        "body": masking.excerpt(decode_text(response, body), BODY_EXCERPT_CHARS),
    }
    message = f"{what} {status} from {response.request.url.host}."
    if status == 410:
        return HttpGone(message, details=details)
    if status in RETRYABLE_STATUSES or status >= 500 or status in retry_statuses:
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if retry_after is not None:
            details["retry_after"] = retry_after
        return HttpRetryableError(message, retry_after=retry_after, details=details)
    if 300 <= status < 400 and "location" in response.headers:
        details["location"] = masking.excerpt(response.headers["location"], BODY_EXCERPT_CHARS)
        message = f"{what} {status} redirect from {response.request.url.host} (redirects are not followed)."
    return HttpStatusError(message, details=details)
