"""Request headers: read once, lower-cased; chosen ones stored with the event, redacted."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from django_automate import exceptions
from django_automate.policy.redaction import redact

# Credentials the sender may attach for other hops; never stored unless asked for by name.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def request_headers(request: HttpRequest) -> dict[str, str]:
    """All request headers, names lower-cased (``x-github-event``), values as the server gave them."""
    return {str(name).lower(): str(value) for name, value in request.headers.items()}


def stored_headers(selected: list[str] | Any, headers: Mapping[str, str]) -> dict[str, str]:
    """The headers kept on the event: ``selected`` names, or all but credentials; always redacted.

    Values under names matching the redaction key list (``…signature…``, ``…token…``, …)
    become ``[REDACTED]``; characters no database can store become U+FFFD.
    """
    if isinstance(selected, (list, tuple)) and selected:
        names = {str(name).strip().lower() for name in selected}
        kept = {name: value for name, value in headers.items() if name in names}
    else:
        kept = {name: value for name, value in headers.items() if name not in CREDENTIAL_HEADERS}
    clean = {_UNSTORABLE.sub("\ufffd", name): _UNSTORABLE.sub("\ufffd", value) for name, value in kept.items()}
    return dict(redact(clean))


def require_storable(text: str, what: str) -> str:
    """``text`` if a database can store it, else ``400 validation_error`` naming ``what``."""
    if _UNSTORABLE.search(text):
        raise exceptions.ValidationError(
            f"The {what} contains NUL characters or unpaired surrogates.", details={"field": what}
        )
    return text
