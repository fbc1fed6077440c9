"""SSRF guard: outbound connections only to public addresses, unless explicitly allowed.

The guard classifies every address a host name resolves to (A and AAAA). Non-public
addresses (loopback, private, link-local, shared/CGNAT, multicast, reserved, unspecified,
documentation ranges) are refused, also when hidden inside IPv6 encodings of IPv4
(IPv4-mapped, IPv4-translated, IPv4-compatible, NAT64, 6to4, Teredo). Cloud metadata
addresses are refused even when private networks are allowed, unless a network in
``AUTOMATE["HTTP_ALLOWED_NETWORKS"]`` contains them. The HTTP transport
(:mod:`django_automate.connectors.transport`) resolves once per connection with
:func:`resolve_checked` and connects to the checked address, so DNS rebinding cannot
swap the address between check and use.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django_automate import conf, exceptions
from django_automate.connectors.base import PermanentError, RetryableError
from django_automate.policy import masking

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedDestination(PermanentError):
    """The destination is not allowed."""

    code = "ssrf_blocked"


class InvalidUrl(PermanentError):
    """Only absolute http:// and https:// URLs with a host are allowed."""

    code = "invalid_url"


class HostNotFound(PermanentError):
    """The host name could not be resolved."""

    code = "host_not_found"


class DnsUnavailable(RetryableError):
    """The host name could not be resolved right now."""

    code = "dns_error"


def _nets(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(c) for c in cidrs)


# Cloud metadata services: AWS/GCP/Azure/OpenStack IMDS, AWS ECS and EKS credentials, Alibaba,
# Oracle, Azure WireServer, AWS IMDS over IPv6 and EKS pod identity over IPv6.
METADATA = _nets(
    "169.254.169.254/32",
    "169.254.170.2/32",
    "169.254.170.23/32",
    "100.100.100.200/32",
    "192.0.0.192/32",
    "168.63.129.16/32",
    "fd00:ec2::254/128",
    "fd00:ec2::23/128",
)

# IANA special-purpose registries, spelled out so the result does not depend on the Python version.
_CATEGORIES: tuple[tuple[str, tuple[IPNetwork, ...]], ...] = (
    ("unspecified", _nets("0.0.0.0/8", "::/128")),
    ("loopback", _nets("127.0.0.0/8", "::1/128")),
    ("private", _nets("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")),
    ("shared", _nets("100.64.0.0/10")),
    ("link_local", _nets("169.254.0.0/16", "fe80::/10")),
    ("multicast", _nets("224.0.0.0/4", "ff00::/8")),
    (
        "reserved",
        _nets(
            "192.0.0.0/24",
            "192.88.99.0/24",
            "240.0.0.0/4",
            "::/96",  # IPv4-compatible addresses, deprecated
            "64:ff9b:1::/48",  # local-use NAT64
            "100::/64",
            "2001:10::/28",
            "fec0::/10",
            "5f00::/16",
        ),
    ),
    ("documentation", _nets("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32", "3fff::/20")),
    ("benchmarking", _nets("198.18.0.0/15", "2001:2::/48")),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_TRANSLATED = ipaddress.IPv6Network("::ffff:0:0:0/96")


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (IPv4-mapped/-translated, NAT64, 6to4, Teredo)."""
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if address in _NAT64 or address in _IPV4_TRANSLATED:
        return [ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    if address.sixtofour:
        return [address.sixtofour]
    if address.teredo:
        server, client = address.teredo
        return [server, client]
    return []


def classify(address: IPAddress) -> str | None:
    """Why ``address`` is not public (``"loopback"``, ``"metadata"``, ``"private via 6to4"``…), or ``None``."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(address.compressed.split("%")[0])
    if any(address in net for net in METADATA):
        return "metadata"
    if isinstance(address, ipaddress.IPv6Address):
        carried = embedded_ipv4(address)
        for inner in carried:
            reason = classify(inner)
            if reason is not None:
                return f"{reason} via {_encoding(address)}"
        if carried:
            # A 6to4/Teredo/NAT64/mapped address is as reachable as the IPv4 addresses it carries;
            # Python 3.13+ flags these prefixes as non-global, which must not decide the outcome.
            return None
    for name, networks in _CATEGORIES:
        if any(address in net for net in networks):
            return name
    if address.is_multicast:
        return "multicast"
    if not address.is_global:
        return "reserved"
    return None


def _encoding(address: ipaddress.IPv6Address) -> str:
    if address.ipv4_mapped:
        return "IPv4-mapped"
    if address in _NAT64:
        return "NAT64"
    if address in _IPV4_TRANSLATED:
        return "IPv4-translated"
    if address.sixtofour:
        return "6to4"
    return "Teredo"


def is_public(address: IPAddress) -> bool:
    return classify(address) is None


@dataclass(frozen=True)
class Policy:
    """Which addresses and hosts outbound HTTP may reach."""

    allow_private: bool = False
    allowed_networks: tuple[IPNetwork, ...] = ()
    host_allowlists: tuple[tuple[str, ...], ...] = field(default=())

    @classmethod
    def from_settings(cls, allow_hosts: Sequence[str] | None = None) -> Policy:
        """The global policy, narrowed by a step's own ``allow_hosts`` when it has one."""
        lists = [tuple(conf.http_allowlist())] if conf.http_allowlist() else []
        if allow_hosts:
            lists.append(tuple(str(h) for h in allow_hosts))
        try:
            networks = tuple(ipaddress.ip_network(str(n), strict=False) for n in conf.http_allowed_networks())
        except ValueError as exc:
            raise exceptions.ImproperlyConfigured(f"AUTOMATE['HTTP_ALLOWED_NETWORKS'] is invalid: {exc}.") from exc
        return cls(conf.http_allow_private_networks(), networks, tuple(lists))

    def address_problem(self, address: IPAddress) -> str | None:
        """Why connecting to ``address`` is refused, or ``None`` when it is allowed."""
        plain = address
        if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
            plain = ipaddress.IPv6Address(address.compressed.split("%")[0])
        if any(plain.version == net.version and plain in net for net in self.allowed_networks):
            return None
        reason = classify(plain)
        if reason is None or (self.allow_private and not reason.startswith("metadata")):
            return None
        return reason

    def check_host(self, host: str, port: int | None) -> None:
        """Refuse a host that is not on every configured allowlist."""
        for allowlist in self.host_allowlists:
            if not any(host_matches(pattern, host, port) for pattern in allowlist):
                raise BlockedDestination(
                    f"Host {host!r} is not on the HTTP allowlist.", details={"host": host, "reason": "not_allowlisted"}
                )


def host_matches(pattern: str, host: str, port: int | None) -> bool:
    """``api.example.com``, ``*.example.com`` (subdomains only), optionally with ``:port``; IP literals too."""
    pattern = pattern.strip().lower()
    want_port: int | None = None
    if pattern.startswith("["):
        literal, _, rest = pattern[1:].partition("]")
        pattern, want_port = literal, int(rest[1:]) if rest.startswith(":") else None
    elif pattern.count(":") == 1:
        pattern, raw_port = pattern.split(":")
        want_port = int(raw_port)
    if want_port is not None and want_port != port:
        return False
    host = host.lower().rstrip(".")
    pattern = pattern.rstrip(".")
    try:
        return ipaddress.ip_address(host) == ipaddress.ip_address(pattern)
    except ValueError:
        pass
    if pattern.startswith("*."):
        return host.endswith(pattern[1:]) and len(host) > len(pattern) - 1
    return host == pattern


def resolve_checked(host: str, port: int, policy: Policy) -> list[tuple[int, IPAddress]]:
    """Resolve ``host`` once and return ``(family, address)`` pairs, all of which ``policy`` allows.

    One non-allowed address blocks the whole name: a name that mixes public and private
    records is a classic rebinding setup.
    """
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_AGAIN:
            raise DnsUnavailable(f"Could not resolve host {host!r} right now.", details={"host": host}) from exc
        raise HostNotFound(f"Could not resolve host {host!r}.", details={"host": host}) from exc
    except (UnicodeError, ValueError) as exc:
        raise InvalidUrl(f"Invalid host {host!r}.", details={"host": host}) from exc
    found: list[tuple[int, IPAddress]] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        if family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3] and "%" not in text:
            text = f"{text}%{sockaddr[3]}"
        address = ipaddress.ip_address(text)
        problem = policy.address_problem(address)
        if problem is not None:
            raise BlockedDestination(
                f"Host {host!r} resolves to a non-public address ({problem}).",
                details={"host": host, "address": str(address), "reason": problem},
            )
        if (family, address) not in found:
            found.append((family, address))
    if not found:
        raise HostNotFound(f"Host {host!r} has no IPv4 or IPv6 address.", details={"host": host})
    return found


def check_url(url: str, policy: Policy | None = None) -> list[IPAddress]:
    """Validate scheme, host and addresses of ``url`` (a pre-flight check; the transport checks again)."""
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise InvalidUrl(details={"url": masking.excerpt(url, 200)})
    try:
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    except ValueError as exc:
        raise InvalidUrl("The URL has an invalid port.", details={"url": masking.excerpt(url, 200)}) from exc
    policy = policy or Policy.from_settings()
    policy.check_host(parts.hostname, port)
    return [address for _family, address in resolve_checked(parts.hostname, port, policy)]


def parse_networks(values: Iterable[object]) -> list[str]:
    """The entries of ``values`` that are not valid CIDR networks (for system checks)."""
    bad = []
    for value in values:
        try:
            ipaddress.ip_network(str(value), strict=False)
        except ValueError:
            bad.append(str(value))
    return bad
