"""The SSRF guard's address classification and JSON depth limits."""

from __future__ import annotations

import ipaddress

import pytest

from django_automate import exceptions
from django_automate.connectors import ssrf
from django_automate.connectors.base import PermanentError
from django_automate.internal.jsonutil import loads_limited, nesting_depth


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::",
        "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    ],
)
def test_non_public_addresses_and_their_ipv6_encodings_are_blocked(address):
    assert ssrf.is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_public_addresses_are_allowed(address):
    assert ssrf.is_public(ipaddress.ip_address(address)) is True


def test_loopback_url_is_blocked_unless_private_networks_are_allowed(settings):
    settings.AUTOMATE = {}
    with pytest.raises(ssrf.BlockedDestination):
        ssrf.check_url("http://127.0.0.1:8080/x")
    settings.AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True}
    assert ssrf.check_url("http://127.0.0.1:8080/x")


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x", "http:///nohost"])
def test_only_http_and_https_urls_are_allowed(url):
    with pytest.raises(PermanentError):
        ssrf.check_url(url)


def test_nesting_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('"\\"[["') == 0


def test_loads_limited_rejects_deep_invalid_and_non_utf8_documents():
    assert loads_limited(b"[" * 64 + b"]" * 64, max_depth=64)
    for raw in [b"[" * 10_000 + b"]" * 10_000, b"{", b"\xff\xfe", b"NaN", b'{"a": Infinity}']:
        with pytest.raises(exceptions.MalformedPayload):
            loads_limited(raw, max_depth=64)
