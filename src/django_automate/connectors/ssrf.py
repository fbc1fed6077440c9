"""SSRF guard: outbound HTTP only to public addresses unless private networks are allowed."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from django_automate import conf
from django_automate.connectors.base import PermanentError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedDestination(PermanentError):
    """The destination address is not allowed."""

    code = "ssrf_blocked"


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in IPv4-mapped, NAT64, 6to4 and Teredo forms."""
    if address.ipv4_mapped:
        return address.ipv4_mapped
    if address.sixtofour:
        return address.sixtofour
    if address.teredo:
        return address.teredo[1]
    if address in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not address.is_multicast


def check_url(url: str) -> list[IPAddress]:
    """Validate scheme and host of ``url``; return the resolved addresses that may be used."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PermanentError("Only absolute http:// and https:// URLs are allowed.", details={"url": url})
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise PermanentError(f"Could not resolve host {parts.hostname!r}.", details={"host": parts.hostname}) from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if conf.http_allow_private_networks():
        return addresses
    blocked = [str(a) for a in addresses if not is_public(a)]
    if blocked:
        raise BlockedDestination(
            f"Host {parts.hostname!r} resolves to a non-public address.",
            details={"host": parts.hostname, "addresses": blocked},
        )
    return addresses
