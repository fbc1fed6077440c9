"""The SSRF guard's address classification, allowlists and policy (no network)."""

from __future__ import annotations

import ipaddress

import pytest

from django_automate.connectors import ssrf


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.255.254", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "shared"),
        ("169.254.1.1", "link_local"),
        ("169.254.169.254", "metadata"),
        ("169.254.170.2", "metadata"),
        ("100.100.100.200", "metadata"),
        ("192.0.0.192", "metadata"),
        ("168.63.129.16", "metadata"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "documentation"),
        ("198.18.0.1", "benchmarking"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fe80::1", "link_local"),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "metadata"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::7f00:1", "reserved"),
        ("64:ff9b:1::1", "reserved"),
        ("::ffff:127.0.0.1", "loopback via IPv4-mapped"),
        ("::ffff:0:a00:1", "private via IPv4-translated"),
        ("64:ff9b::a9fe:a9fe", "metadata via NAT64"),
        ("64:ff9b::a00:1", "private via NAT64"),
        ("2002:7f00:1::", "loopback via 6to4"),
        ("2002:c0a8:101::1", "private via 6to4"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "loopback via Teredo"),
        ("fe80::1%1", "link_local"),
    ],
)
def test_non_public_addresses_and_their_ipv6_encodings_are_classified(address, reason):
    assert ssrf.classify(ipaddress.ip_address(address)) == reason
    assert ssrf.is_public(ipaddress.ip_address(address)) is False


@pytest.mark.parametrize(
    "address",
    [
        "93.184.216.34",
        "8.8.8.8",
        "2606:4700:4700::1111",
        "::ffff:93.184.216.34",
        "2002:5db8:d822::",
        "64:ff9b::808:808",
    ],
)
def test_public_addresses_are_allowed(address):
    assert ssrf.classify(ipaddress.ip_address(address)) is None


def test_private_networks_can_be_allowed_but_metadata_only_explicitly():
    loopback, metadata = ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("169.254.169.254")
    mapped_metadata = ipaddress.ip_address("::ffff:169.254.169.254")
    default = ssrf.Policy()
    assert default.address_problem(loopback) == "loopback"
    private = ssrf.Policy(allow_private=True)
    assert private.address_problem(loopback) is None
    assert private.address_problem(metadata) == "metadata"
    assert private.address_problem(mapped_metadata) == "metadata via IPv4-mapped"
    networks = ssrf.Policy(allowed_networks=(ipaddress.ip_network("169.254.169.254/32"),))
    assert networks.address_problem(metadata) is None
    assert networks.address_problem(loopback) == "loopback"


@pytest.mark.parametrize(
    ("pattern", "host", "port", "matches"),
    [
        ("api.example.com", "api.example.com", 443, True),
        ("API.example.com.", "api.example.com", 443, True),
        ("api.example.com", "evil-api.example.com", 443, False),
        ("api.example.com", "api.example.com.evil.test", 443, False),
        ("*.example.com", "a.b.example.com", 443, True),
        ("*.example.com", "example.com", 443, False),
        ("*.example.com", "badexample.com", 443, False),
        ("api.example.com:8443", "api.example.com", 8443, True),
        ("api.example.com:8443", "api.example.com", 443, False),
        ("203.0.113.5", "203.0.113.5", 80, True),
        ("[2001:db8::1]:443", "2001:db8:0::1", 443, True),
        ("2001:db8::1", "2001:db8::2", 443, False),
    ],
)
def test_host_patterns(pattern, host, port, matches):
    assert ssrf.host_matches(pattern, host, port) is matches


def test_every_allowlist_must_admit_the_host():
    policy = ssrf.Policy(host_allowlists=(("*.example.com",), ("api.example.com",)))
    policy.check_host("api.example.com", 443)
    with pytest.raises(ssrf.BlockedDestination):
        policy.check_host("www.example.com", 443)


def test_loopback_url_is_blocked_unless_private_networks_are_allowed(settings):
    settings.AUTOMATE = {}
    with pytest.raises(ssrf.BlockedDestination):
        ssrf.check_url("http://127.0.0.1:8080/x")
    settings.AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True}
    assert ssrf.check_url("http://127.0.0.1:8080/x") == [ipaddress.ip_address("127.0.0.1")]


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/", "gopher://x", "http:///nohost", "x"])
def test_only_http_and_https_urls_are_allowed(url):
    with pytest.raises(ssrf.InvalidUrl):
        ssrf.check_url(url)
