"""Reading a request body under a byte cap, whatever the framing.

Framings and what happens:

- ``Content-Length`` over the cap: rejected before a byte is read.
- ``Content-Length`` within the cap: Django's stream stops at the declared length, so an
  understated length never lets more than that through; a body that ends before the
  declared length (the client closed early) is rejected, never stored truncated.
- No ``Content-Length`` (chunked, or read-until-close): servers that decode such bodies
  (gunicorn, mod_wsgi, uWSGI with chunked input) say so with ``wsgi.input_terminated``;
  Django itself would then see an empty body, so the raw ``wsgi.input`` is read here.
  Without that flag there is no body.

In every case at most ``limit + 1`` bytes are pulled from the stream.
"""

from __future__ import annotations

import re
from typing import Any, Protocol, cast

from django.http import HttpRequest

from django_automate import exceptions

CHUNK = 64 * 1024
_DIGITS = re.compile(r"[0-9]+")


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


def read_capped(request: HttpRequest, limit: int) -> bytes:
    """Return the body; raise ``PayloadTooLarge`` (413) past ``limit`` bytes, without reading further."""
    if getattr(request, "_read_started", False):
        # Something (a middleware) read the body before the view; use what it kept.
        kept: Any = getattr(request, "_body", None)
        if not isinstance(kept, bytes):
            raise exceptions.MalformedPayload("The request body was consumed before it reached the webhook view.")
        _check_size(len(kept), limit)
        _check_complete(request, len(kept))
        return kept
    stream = _body_stream(request, limit)
    chunks: list[bytes] = []
    total = 0
    while total <= limit:
        try:
            chunk = stream.read(min(CHUNK, limit + 1 - total))
        except Exception as exc:  # a broken, truncated or malformed upload is the client's fault
            raise exceptions.MalformedPayload("The request body could not be read.") from exc
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    _check_size(total, limit)
    _check_complete(request, total)
    return b"".join(chunks)


def _body_stream(request: HttpRequest, limit: int) -> _Readable:
    declared = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if declared:
        if not _DIGITS.fullmatch(declared):
            raise exceptions.MalformedPayload("Invalid Content-Length header.", details={"content_length": "invalid"})
        _check_size(int(declared) if len(declared) <= 20 else limit + 1, limit)
        return request
    raw = request.META.get("wsgi.input")
    if request.META.get("wsgi.input_terminated") and raw is not None:
        return cast(_Readable, raw)
    return request


def _check_complete(request: HttpRequest, received: int) -> None:
    """``400 malformed_payload`` when fewer bytes arrived than ``Content-Length`` announced."""
    declared = str(request.META.get("CONTENT_LENGTH") or "").strip()
    if declared and _DIGITS.fullmatch(declared) and received < int(declared):
        raise exceptions.MalformedPayload(
            f"The body ended after {received} of the {int(declared)} bytes its Content-Length announced.",
            details={"content_length": int(declared), "received": received},
        )


def _check_size(size: int, limit: int) -> None:
    if size > limit:
        raise exceptions.PayloadTooLarge(details={"max_body_bytes": limit})
