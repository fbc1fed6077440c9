"""Reading a request body under a byte cap, whatever the framing."""

from __future__ import annotations

from django.http import HttpRequest

from django_automate import exceptions

CHUNK = 64 * 1024


def read_capped(request: HttpRequest, limit: int) -> bytes:
    """Read at most ``limit`` bytes from the request stream; raise PayloadTooLarge past it.

    The declared Content-Length is checked first (cheap rejection), but the cap is enforced
    on the bytes actually read, so a missing or understated length does not get past it.
    """
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            if int(declared) > limit:
                raise exceptions.PayloadTooLarge(details={"max_body_bytes": limit})
        except ValueError as exc:
            raise exceptions.MalformedPayload("Invalid Content-Length header.") from exc
    chunks: list[bytes] = []
    total = 0
    while True:
        chunk = request.read(CHUNK)
        if not chunk:
            break
        total += len(chunk)
        if total > limit:
            raise exceptions.PayloadTooLarge(details={"max_body_bytes": limit})
        chunks.append(chunk)
    return b"".join(chunks)
