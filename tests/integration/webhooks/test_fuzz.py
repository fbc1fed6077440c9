"""Fuzzing the hook endpoint: whatever arrives, the answer is a 2xx or a well-formed 4xx, never a 5xx.

Bodies, header sets, methods, content types and lengths are generated; signed endpoints get
valid signatures part of the time, so generated bodies also reach parsing and storage.
"""

from __future__ import annotations

import json
import logging
import os
import time

import pytest
from django.test import Client
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.integration.webhooks import senders

pytestmark = pytest.mark.django_db

# CI runs a fixed sample; AUTOMATE_FUZZ_EXAMPLES=20000 AUTOMATE_FUZZ_RANDOM=1 digs deeper with fresh inputs.
EXAMPLES = int(os.environ.get("AUTOMATE_FUZZ_EXAMPLES", "2000"))
RANDOM = os.environ.get("AUTOMATE_FUZZ_RANDOM") == "1"
STATUS_OF_CODE = {
    "validation_error": 400,
    "malformed_payload": 400,
    "invalid_signature": 401,
    "signature_expired": 401,
    "resource_not_found": 404,
    "method_not_allowed": 405,
    "idempotency_conflict": 409,
    "payload_too_large": 413,
    "unsupported_media_type": 415,
    "throttled": 429,
}
SECRETS = {"HMAC": "hmac-secret", "STD": senders.whsec(), "STRIPE": senders.whsec(), "GH": "gh", "SLACK": "slack"}
ENDPOINTS = {
    "open": {"event_type": "fuzz.open"},
    "typed": {"event_type": "fuzz.{{ headers.x-kind }}.{{ body.kind }}", "idempotency": "body:id"},
    "tiny": {"event_type": "fuzz.tiny", "max_body_bytes": 64},
    "limited": {"event_type": "fuzz.limited", "rate_limit_per_minute": 5},
    "stored": {"event_type": "fuzz.stored", "store_headers": ["x-kind", "authorization"], "idempotency": "body_hash"},
    "hmac": {"scheme": "hmac_sha256", "secrets": ["$secret:HMAC"], "event_type": "fuzz.hmac"},
    "std": {"scheme": "standard_webhooks", "secrets": ["$secret:STD"], "event_type": "fuzz.std"},
    "stripe": {"scheme": "stripe", "secrets": ["$secret:STRIPE"], "event_type": "stripe.{{ body.type }}"},
    "github": {"scheme": "github", "secrets": ["$secret:GH"], "event_type": "gh.{{ headers.x-github-event }}"},
    "slack": {"scheme": "slack", "secrets": ["$secret:SLACK"], "event_type": "slack.event"},
}
SIGNERS = {
    "hmac": (senders.sign_hmac, "HMAC"),
    "std": (senders.sign_standard_webhooks_bytes, "STD"),
    "stripe": (senders.sign_stripe_bytes, "STRIPE"),
    "github": (senders.sign_github, "GH"),
    "slack": (senders.sign_slack, "SLACK"),
}
HEADER_NAMES = [
    "content-type",
    "idempotency-key",
    "traceparent",
    "x-trace-id",
    "x-kind",
    "x-github-event",
    "x-github-delivery",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "stripe-signature",
    "x-hub-signature-256",
    "x-slack-signature",
    "x-slack-request-timestamp",
    "x-signature-256",
    "authorization",
    "transfer-encoding",
]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
documents = st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.fixed_dictionaries(
        {"id": st.text(max_size=300) | st.integers(), "kind": json_values, "type": st.text(max_size=20)}
    ).map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)
bodies = st.one_of(
    documents,
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.integers(0, 120).map(lambda n: ("[" * n + "]" * n).encode()),
    st.sampled_from(
        [b"NaN", b"[1e400]", b'{"a": "\\u0000"}', b'["\\ud800"]', b"9" * 5000, b"\xef\xbb\xbf{}", b"", b'{"type": 1}']
    ),
    st.just(json.dumps({"type": "url_verification", "challenge": "c"}).encode()),
)
header_values = st.text(max_size=40) | st.sampled_from(["", "0", "v1,AAAA", "t=1,v1=00", "sha256=zz", "v0=00"])
header_sets = st.dictionaries(
    st.sampled_from([*HEADER_NAMES, "x-a", "x-b-c", "x-signature"]), header_values, max_size=5
)
content_types = st.sampled_from(
    ["application/json", "application/json; charset=utf-8", "text/plain", "application/x+json", "", "a;b;;=c"]
) | st.text(max_size=30)
CLIENT = Client()
lengths = st.none() | st.sampled_from(["", "abc", "-5", "99999999999999999999", " 7"]) | st.integers(0, 400).map(str)


@pytest.fixture
def endpoints(endpoint_factory, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": SECRETS}
    for slug, fields in ENDPOINTS.items():
        endpoint_factory(slug=slug, **fields)
    # Thousands of expected 4xx would each log a warning; errors (5xx) are still logged.
    request_logger = logging.getLogger("django.request")
    level = request_logger.level
    request_logger.setLevel(logging.ERROR)
    yield
    request_logger.setLevel(level)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not RANDOM,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    slug=st.sampled_from([*ENDPOINTS, "missing", "x" * 150]),
    method=st.sampled_from(["POST"] * 12 + ["GET", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    body=bodies,
    headers=header_sets,
    sign=st.sampled_from(["no", "now", "now", "stale", "future"]),
    content_type=content_types,
    content_length=lengths,
)
def test_hook_endpoint_answers_2xx_or_a_normalized_4xx(
    endpoints, slug, method, body, headers, sign, content_type, content_length
):
    if sign != "no" and slug in SIGNERS:
        signer, name = SIGNERS[slug]
        offset = {"now": 0, "stale": -4000, "future": 4000}[sign]
        headers = {**headers, **signer(body, SECRETS[name], int(time.time()) + offset)}
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    if content_length is not None:
        meta["CONTENT_LENGTH"] = content_length
    response = CLIENT.generic(method, f"/automate/hooks/{slug}/", body, content_type=content_type, **meta)

    assert response.status_code < 500, response.content[:500]
    data = json.loads(response.content)
    if response.status_code >= 400:
        assert set(data) == {"code", "message", "details", "trace_id"}
        assert STATUS_OF_CODE[data["code"]] == response.status_code
        assert isinstance(data["message"], str) and data["message"]
        assert isinstance(data["details"], dict)
        assert data["trace_id"] == response["X-Trace-Id"]
        if response.status_code == 405:
            assert response["Allow"] == "POST"
        if response.status_code == 429:
            assert int(response["Retry-After"]) >= 1
    elif "challenge" in data:
        assert (slug, response.status_code) == ("slack", 200)
    else:
        assert response.status_code in (200, 202)
        assert set(data) == {"event_id", "trace_id", "duplicate"}
        assert data["duplicate"] is (response.status_code == 200)
