"""Request bodies: JSON only, size-capped, depth-limited and storable on every database."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

from django_automate import conf, exceptions
from django_automate.internal.jsonutil import loads_limited


def check_storable(value: Any, path: str = "$") -> None:
    """Reject what parses but no database can store: NUL, unpaired surrogates, infinite numbers."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            _check_string(item, where)
        elif isinstance(item, float) and not math.isfinite(item):
            raise exceptions.ValidationError(f"{where}: numbers must be finite.", details={"path": where})
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(str(key), where)
                stack.append((child, f"{where}.{key}"))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{index}]") for index, child in enumerate(item))


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise exceptions.ValidationError(f"{where}: strings must not contain NUL characters.", details={"path": where})
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise exceptions.ValidationError(
            f"{where}: strings must not contain unpaired surrogates.", details={"path": where}
        ) from None


class JSONParser(BaseParser):
    """``application/json`` up to ``AUTOMATE["API_MAX_BODY_BYTES"]`` (413) and ``JSON_MAX_DEPTH`` levels (400)."""

    media_type = "application/json"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        limit = conf.api_max_body_bytes()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise exceptions.PayloadTooLarge(
                f"The request body is larger than {limit} bytes.", details={"max_bytes": limit}
            )
        if not raw.strip():
            return {}
        value = loads_limited(raw, max_depth=conf.json_max_depth())
        check_storable(value)
        return value


class ContentNegotiation(DefaultContentNegotiation):
    """Answer JSON when the ``Accept`` header names nothing we render, instead of a 406."""

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        from rest_framework.exceptions import NotAcceptable

        available = list(renderers)
        try:
            return super().select_renderer(request, available, format_suffix)
        except NotAcceptable:
            if format_suffix or request.query_params.get(self.settings.URL_FORMAT_OVERRIDE):
                raise
            return available[0], available[0].media_type
