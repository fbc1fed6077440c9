"""The SSRF guard against a corpus of URL forms, with canary servers on 127.0.0.1 and [::1].

Every form must be refused before a single connection reaches the canaries. With private
networks allowed, the same canaries are reachable (so the corpus is not passing because
the canaries are unreachable anyway).
"""

from __future__ import annotations

import time

import pytest

from django_automate.connectors.base import ConnectorContext, PermanentError
from django_automate.connectors.http import HttpConnector
from django_automate.testing import local_http_server

BLOCKED = "ssrf_blocked"
INVALID = "invalid_url"
UNKNOWN_HOST = "host_not_found"
REDIRECT_NOT_FOLLOWED = "http_error"

# (url, expected error code); P is the canaries' port.
CORPUS: list[tuple[str, str]] = [
    # IPv4 loopback and "this host" in every notation libc accepts
    ("http://127.0.0.1:P/", BLOCKED),
    ("http://127.1:P/", BLOCKED),
    ("http://127.0.1:P/", BLOCKED),
    ("http://2130706433:P/", BLOCKED),
    ("http://0x7f000001:P/", BLOCKED),
    ("http://0x7f.0x0.0x0.0x1:P/", BLOCKED),
    ("http://0x7f.1:P/", BLOCKED),
    ("http://0177.0.0.1:P/", INVALID),
    ("http://017700000001:P/", BLOCKED),
    ("http://127.127.127.127:P/", BLOCKED),
    ("http://0:P/", BLOCKED),
    ("http://0.0.0.0:P/", BLOCKED),
    ("HTTP://127.0.0.1:P/", BLOCKED),
    # IPv6 loopback, unspecified, and IPv4 loopback inside IPv6 encodings
    ("http://[::1]:P/", BLOCKED),
    ("http://[0:0:0:0:0:0:0:1]:P/", BLOCKED),
    ("http://[::]:P/", BLOCKED),
    ("http://[::ffff:127.0.0.1]:P/", BLOCKED),
    ("http://[::ffff:7f00:1]:P/", BLOCKED),
    ("http://[0:0:0:0:0:ffff:127.0.0.1]:P/", BLOCKED),
    ("http://[::ffff:0:127.0.0.1]:P/", BLOCKED),  # IPv4-translated
    ("http://[::127.0.0.1]:P/", BLOCKED),  # IPv4-compatible
    ("http://[64:ff9b::7f00:1]:P/", BLOCKED),  # NAT64
    ("http://[64:ff9b::127.0.0.1]:P/", BLOCKED),
    ("http://[64:ff9b:1::7f00:1]:P/", BLOCKED),  # local-use NAT64
    ("http://[2002:7f00:1::]:P/", BLOCKED),  # 6to4
    ("http://[2002:7f00:0001:0000:0000:0000:0000:0001]:P/", BLOCKED),
    ("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]:P/", BLOCKED),  # Teredo, client 127.0.0.1
    ("http://[fe80::1]:P/", BLOCKED),
    ("http://[fe80::1%lo]:P/", BLOCKED),  # with a zone id
    ("http://[fe80::1%25lo]:P/", UNKNOWN_HOST),  # zone "25lo" does not exist
    ("http://[fc00::1]:P/", BLOCKED),
    ("http://[fd00::1]:P/", BLOCKED),
    ("http://[ff02::1]:P/", BLOCKED),
    # Cloud metadata, directly and encoded
    ("http://169.254.169.254/latest/meta-data/", BLOCKED),
    ("http://169.254.170.2/v2/credentials", BLOCKED),
    ("http://100.100.100.200/latest/meta-data/", BLOCKED),
    ("http://192.0.0.192/opc/v1/instance/", BLOCKED),
    ("http://168.63.129.16/machine", BLOCKED),
    ("http://[fd00:ec2::254]/latest/meta-data/", BLOCKED),
    ("http://[::ffff:169.254.169.254]/", BLOCKED),
    ("http://[::ffff:a9fe:a9fe]/", BLOCKED),
    ("http://[64:ff9b::a9fe:a9fe]/", BLOCKED),
    ("http://2852039166/", BLOCKED),
    ("http://0xa9fea9fe/", BLOCKED),
    ("http://0251.0376.0251.0376/", INVALID),
    # RFC 1918, CGNAT and other non-public ranges
    ("http://10.0.0.1:P/", BLOCKED),
    ("http://0x0a.0.0.1:P/", BLOCKED),
    ("http://172.16.0.1:P/", BLOCKED),
    ("http://172.31.255.254:P/", BLOCKED),
    ("http://192.168.0.1:P/", BLOCKED),
    ("http://100.64.0.1:P/", BLOCKED),
    ("http://100.127.255.254:P/", BLOCKED),
    ("http://224.0.0.1:P/", BLOCKED),
    ("http://255.255.255.255:P/", BLOCKED),
    ("http://240.0.0.1:P/", BLOCKED),
    ("http://198.18.0.1:P/", BLOCKED),
    ("http://192.0.2.1:P/", BLOCKED),
    # Names that resolve to non-public addresses
    ("http://localhost:P/", BLOCKED),
    ("http://LOCALHOST:P/", BLOCKED),
    ("http://loopback.test:P/", BLOCKED),
    ("http://loopback6.test:P/", BLOCKED),
    ("http://mixed.test:P/", BLOCKED),  # one public and one loopback record
    ("http://mapped.test:P/", BLOCKED),
    ("http://private.test:P/", BLOCKED),
    ("http://metadata.google.internal/computeMetadata/v1/", BLOCKED),
    # Userinfo and delimiter tricks
    ("http://public.test@127.0.0.1:P/", BLOCKED),
    ("http://public.test:80@127.0.0.1:P/", BLOCKED),
    ("http://user:pass@localhost:P/", BLOCKED),
    ("http://127.0.0.1:P#@public.test/", BLOCKED),
    ("http://127.0.0.1:P?@public.test/", BLOCKED),
    ("http://public.test%40@127.0.0.1:P/", BLOCKED),
    ("http://127.0.0.1:P\\@public.test/", UNKNOWN_HOST),  # httpx reads the host as public.test
    # Fullwidth and ideographic dots, fullwidth letters
    ("http://127\u30020\u30020\u30021:P/", BLOCKED),
    ("http://127\uff0e0\uff0e0\uff0e1:P/", BLOCKED),
    ("http://loopback\u3002test:P/", BLOCKED),
    ("http://\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54:P/", INVALID),
    # Schemes other than http/https, and URLs without a host
    ("file:///etc/passwd", INVALID),
    ("ftp://127.0.0.1:P/", INVALID),
    ("gopher://127.0.0.1:P/_GET", INVALID),
    ("dict://127.0.0.1:P/info", INVALID),
    ("ws://127.0.0.1:P/", INVALID),
    ("http+unix://%2Ftmp%2Fsock/", INVALID),
    ("data:text/plain,hello", INVALID),
    ("javascript:alert(1)", INVALID),
    ("//127.0.0.1:P/", INVALID),
    ("http:/127.0.0.1:P/", INVALID),
]

# Redirect targets served by an allowed server on 127.0.0.2 (with follow_redirects on).
REDIRECTS: list[tuple[int, str, str]] = [
    (302, "http://127.0.0.1:P/", BLOCKED),
    (301, "http://localhost:P/", BLOCKED),
    (307, "http://[::1]:P/", BLOCKED),
    (308, "http://2130706433:P/", BLOCKED),
    (303, "http://[::ffff:127.0.0.1]:P/", BLOCKED),
    (302, "http://loopback.test:P/", BLOCKED),
    (302, "http://169.254.169.254/latest/meta-data/", BLOCKED),
    (302, "file:///etc/passwd", INVALID),
    (302, "gopher://127.0.0.1:P/_GET", INVALID),
]

FAKE_ANSWERS = {
    "loopback.test": ["127.0.0.1"],
    "loopback6.test": ["::1"],
    "mixed.test": ["93.184.216.34", "127.0.0.1"],
    "mapped.test": ["::ffff:127.0.0.1"],
    "private.test": ["10.0.0.5"],
    "metadata.google.internal": ["169.254.169.254"],
}


def context(seconds: float = 3.0) -> ConnectorContext:
    return ConnectorContext(idempotency_key="run:step", trace_id="", deadline=time.monotonic() + seconds)


def call(url: str, **params: object) -> dict[str, object]:
    return HttpConnector().execute("request", {"url": url, "timeout_seconds": 2, **params}, context()).output


def refusal(url: str, **params: object) -> str:
    with pytest.raises(PermanentError) as caught:
        call(url, **params)
    return caught.value.code


def test_corpus_is_large_enough():
    assert len(CORPUS) + len(REDIRECTS) + 1 >= 60


def test_every_form_is_refused_and_the_canary_sees_no_connection(settings, fake_dns, canary):
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.2/32"]}  # only for the redirecting server
    fake_dns.answers.update(FAKE_ANSWERS)
    results = {}
    for template, _expected in CORPUS:
        results[template] = refusal(template.replace(":P", f":{canary.port}"))
    with local_http_server("127.0.0.2", canary.port) as redirector:
        for status, target, _expected in REDIRECTS:
            redirector.respond(status, headers={"Location": target.replace(":P", f":{canary.port}")})
            results[f"redirect to {target}"] = refusal(f"{redirector.url}/go", follow_redirects=True)
        # Redirects are not followed by default: the 302 is the step's (permanent) failure.
        redirector.respond(302, headers={"Location": f"http://127.0.0.1:{canary.port}/"})
        results["redirect, not followed"] = refusal(f"{redirector.url}/go")
        assert len(redirector.requests) == len(REDIRECTS) + 1

    expected = dict(CORPUS)
    expected.update({f"redirect to {target}": code for _, target, code in REDIRECTS})
    expected["redirect, not followed"] = REDIRECT_NOT_FOLLOWED
    assert results == expected
    assert canary.connections == 0


REACHABLE_WHEN_ALLOWED = [
    "http://127.0.0.1:P/",
    "http://127.1:P/",
    "http://2130706433:P/",
    "http://0x7f000001:P/",
    "http://[::1]:P/",
    "http://[::ffff:127.0.0.1]:P/",
    "http://localhost:P/",
    "http://loopback.test:P/",
    "http://loopback6.test:P/",
    "http://127\u30020\u30020\u30021:P/",
    "http://public.test@127.0.0.1:P/",
]


def test_with_private_networks_allowed_the_same_canary_is_reachable(settings, fake_dns, canary):
    settings.AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True}
    fake_dns.answers.update(FAKE_ANSWERS)
    for template in REACHABLE_WHEN_ALLOWED:
        assert call(template.replace(":P", f":{canary.port}"))["status"] == 200
    assert canary.connections == len(REACHABLE_WHEN_ALLOWED)


def test_metadata_addresses_stay_blocked_when_private_networks_are_allowed(settings, fake_dns):
    settings.AUTOMATE = {"HTTP_ALLOW_PRIVATE_NETWORKS": True}
    fake_dns.answers.update(FAKE_ANSWERS)
    for url in [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
        "http://metadata.google.internal/",
    ]:
        assert refusal(url) == BLOCKED, url


def test_a_name_whose_resolution_changes_is_resolved_once_and_the_checked_address_is_used(settings, fake_dns, canary):
    # First answer: an allowed address where the real service listens; every later answer:
    # loopback, where the canary listens on the same port. A second lookup would hit the canary.
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.2/32"]}
    fake_dns.answers["rebind.test"] = [["127.0.0.2"], ["127.0.0.1"]]
    with local_http_server("127.0.0.2", canary.port) as service:
        assert call(f"http://rebind.test:{canary.port}/")["status"] == 200
        assert fake_dns.calls["rebind.test"] == 1
        assert len(service.requests) == 1
        assert service.requests[0].headers["host"] == f"rebind.test:{canary.port}"
        # The next call resolves again and now gets loopback: refused, still no connection.
        assert refusal(f"http://rebind.test:{canary.port}/") == BLOCKED
    assert canary.connections == 0


def test_each_redirect_hop_is_checked_against_the_allowlists(settings, fake_dns):
    settings.AUTOMATE = {"HTTP_ALLOWED_NETWORKS": ["127.0.0.2/32"], "HTTP_ALLOWLIST": ["allowed.test"]}
    fake_dns.answers.update({"allowed.test": ["127.0.0.2"], "other.test": ["127.0.0.2"]})
    with local_http_server("127.0.0.2") as server:
        port = server.url.rsplit(":", 1)[1]
        server.respond(302, headers={"Location": f"http://other.test:{port}/"})
        assert refusal(f"http://allowed.test:{port}/", follow_redirects=True) == BLOCKED
        server.respond(302, headers={"Location": f"http://allowed.test:{port}/final"})
        output = call(f"http://allowed.test:{port}/", follow_redirects=True)
        assert output["status"] == 200 and output["url"] == f"http://allowed.test:{port}/final"
        assert refusal(f"http://other.test:{port}/") == BLOCKED
        # A step's allow_hosts narrows the global list; it cannot widen it.
        assert refusal(f"http://allowed.test:{port}/", allow_hosts=["elsewhere.test"]) == BLOCKED
        assert refusal(f"http://other.test:{port}/", allow_hosts=["other.test"]) == BLOCKED
        assert [r.path for r in server.requests] == ["/", "/", "/final"]
