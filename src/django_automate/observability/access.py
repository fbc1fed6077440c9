"""Who may read ``metrics/``: a bearer token, a network allowlist, or both.

Closed by default: with neither ``AUTOMATE["METRICS_TOKEN"]`` nor
``AUTOMATE["METRICS_ALLOWED_NETWORKS"]`` set, every scrape is refused. When both are set,
a scrape must satisfy both. The client address is ``REMOTE_ADDR`` (behind a proxy, that is
the proxy: prefer the token there).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging

from django.http import HttpRequest

from django_automate import conf, exceptions
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks() -> list[Network]:
    """``METRICS_ALLOWED_NETWORKS`` parsed (system check automate.E071 reports invalid entries)."""
    parsed: list[Network] = []
    for value in conf.metrics_allowed_networks():
        try:
            parsed.append(ipaddress.ip_network(value, strict=False))
        except ValueError:
            logger.error("Ignoring invalid network %r", value, extra=log_extra("metrics_network_invalid"))
    return parsed


def client_address(request: HttpRequest) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR", "")).split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def expected_token() -> str | None:
    """The configured token, with a ``$secret:NAME`` reference resolved."""
    token = conf.metrics_token()
    if not token or "$secret:" not in token:
        return token or None
    from django_automate.secrets.refs import Resolver, SecretNotFound

    try:
        return Resolver().resolve_string(token) or None
    except SecretNotFound:
        logger.error("AUTOMATE['METRICS_TOKEN'] names an undefined secret", extra=log_extra("metrics_token_missing"))
        raise exceptions.PermissionDenied("The metrics token is not available; scrapes are refused.") from None


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def require_metrics_access(request: HttpRequest) -> None:
    """Raise NotAuthenticated / PermissionDenied unless the request may read metrics."""
    token = conf.metrics_token()
    allowed = conf.metrics_allowed_networks()
    if not token and not allowed:
        raise exceptions.PermissionDenied(
            "Metrics are disabled: set AUTOMATE['METRICS_TOKEN'] or AUTOMATE['METRICS_ALLOWED_NETWORKS'].",
        )
    if allowed:
        address = client_address(request)
        if address is None or not any(address in network for network in networks()):
            raise exceptions.PermissionDenied(
                "This client address may not read metrics.", details={"client": str(address or "")}
            )
    if token:
        expected = expected_token()
        given = _bearer(request)
        if not expected or not given or not hmac.compare_digest(given.encode(), expected.encode()):
            raise exceptions.NotAuthenticated("A valid metrics token is required (Authorization: Bearer <token>).")
