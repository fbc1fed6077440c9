"""Signature schemes, interoperating with what each sender really sends.

Every sender in ``senders.SENDERS`` signs with its own library or documented algorithm; the
endpoint must accept that and reject one-byte tampering, a wrong secret, a missing header
and a stale or future timestamp, each with the right code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
import standardwebhooks
import stripe
import svix.webhooks

from django_automate.ingestion.webhooks import schemes
from django_automate.ingestion.webhooks.schemes import github, slack
from django_automate.models import Event, OutboxJob
from tests.integration.webhooks.senders import SENDERS, Sender, sign_slack, sign_stripe, whsec

pytestmark = pytest.mark.django_db

URL = "/automate/hooks/orders/"
BODY = json.dumps({"id": "evt_1", "event_id": "Ev1", "type": "order.paid", "total": 19.5}).encode()


def post(client, body: bytes, headers: dict[str, str], content_type: str = "application/json"):
    meta = {"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()}
    return client.generic("POST", URL, body, content_type=content_type, **meta)


@pytest.fixture
def secrets(settings):
    """Define settings secrets by name: ``secrets(HOOK="...")``."""

    def define(**values: str) -> list[str]:
        settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {**settings.AUTOMATE.get("SECRETS", {}), **values}}
        return [f"$secret:{name}" for name in values]

    return define


@pytest.fixture(params=SENDERS, ids=lambda sender: sender.name)
def sender(request) -> Sender:
    return request.param


@pytest.fixture(params=[s for s in SENDERS if s.timestamped], ids=lambda sender: sender.name)
def timed_sender(request) -> Sender:
    """Senders that sign a timestamp (GitHub and plain HMAC do not; the delivery id stops their replays)."""
    return request.param


@pytest.fixture
def secret(sender, secrets, endpoint_factory) -> str:
    value = sender.new_secret()
    endpoint_factory(scheme=sender.scheme, secrets=secrets(HOOK=value))
    return value


def code(response) -> str:
    return response.json()["code"]


def test_delivery_signed_by_the_sender_is_accepted(client, sender, secret):
    response = post(client, BODY, sender.sign(BODY, secret, int(time.time())))
    assert response.status_code == 202, response.json()
    event = Event.objects.get(id=response.json()["event_id"])
    assert event.payload == json.loads(BODY)
    assert OutboxJob.objects.filter(event=event).count() == 1


def test_one_flipped_byte_is_an_invalid_signature(client, sender, secret):
    headers = sender.sign(BODY, secret, int(time.time()))
    tampered = BODY.replace(b"19.5", b"19.6")
    assert len(tampered) == len(BODY) and tampered != BODY
    response = post(client, tampered, headers)
    assert (response.status_code, code(response)) == (401, "invalid_signature")
    assert Event.objects.count() == 0


def test_wrong_secret_is_an_invalid_signature(client, sender, secret):
    response = post(client, BODY, sender.sign(BODY, sender.new_secret(), int(time.time())))
    assert (response.status_code, code(response)) == (401, "invalid_signature")


def test_each_missing_signature_header_is_an_invalid_signature(client, sender, secret):
    headers = sender.sign(BODY, secret, int(time.time()))
    for name in sender.signature_headers:
        response = post(client, BODY, {k: v for k, v in headers.items() if k != name})
        assert (response.status_code, code(response)) == (401, "invalid_signature"), name
        assert response.json()["details"].get("header") in (name, None)
    assert Event.objects.count() == 0


def test_stale_and_future_timestamps_are_expired_inside_tolerance_accepted(
    client, timed_sender, secrets, endpoint_factory
):
    sender = timed_sender
    secret = sender.new_secret()
    endpoint_factory(scheme=sender.scheme, secrets=secrets(HOOK=secret))
    now = int(time.time())
    for when in (now - 330, now + 330, now - 3600 * 24):
        response = post(client, BODY, sender.sign(BODY, secret, when))
        assert (response.status_code, code(response)) == (401, "signature_expired"), when
        assert response.json()["details"]["tolerance_seconds"] == 300
    assert post(client, BODY, sender.sign(BODY, secret, now - 270)).status_code == 202


def test_timestamp_check_follows_the_endpoint_tolerance(client, timed_sender, secrets, endpoint_factory):
    sender = timed_sender
    secret = sender.new_secret()
    endpoint_factory(scheme=sender.scheme, secrets=secrets(HOOK=secret), tolerance_seconds=900)
    assert post(client, BODY, sender.sign(BODY, secret, int(time.time()) - 800)).status_code == 202
    stale = BODY.replace(b"evt_1", b"evt_2").replace(b"Ev1", b"Ev2")
    assert code(post(client, stale, sender.sign(stale, secret, int(time.time()) - 1000))) == "signature_expired"


def test_forged_stale_delivery_is_invalid_not_expired(client, timed_sender, secrets, endpoint_factory):
    sender = timed_sender
    endpoint_factory(scheme=sender.scheme, secrets=secrets(HOOK=sender.new_secret()))
    response = post(client, BODY, sender.sign(BODY, sender.new_secret(), int(time.time()) - 3600))
    assert code(response) == "invalid_signature"  # "expired" is only ever said to the real sender


def test_rotation_accepts_every_active_secret(client, sender, secrets, endpoint_factory):
    old, new = sender.new_secret(), sender.new_secret()
    endpoint_factory(scheme=sender.scheme, secrets=secrets(NEW=new, OLD=old))
    now = int(time.time())
    other = BODY.replace(b"evt_1", b"evt_2").replace(b"Ev1", b"Ev2")
    first = post(client, BODY, sender.sign(BODY, old, now))
    second = post(client, other, sender.sign(other, new, now))
    assert (first.status_code, second.status_code) == (202, 202)
    assert Event.objects.count() == 2


def test_signature_is_checked_before_the_body_is_parsed(client, sender, secret):
    garbage = b'{"id": "evt_1", broken'
    assert code(post(client, garbage, sender.sign(BODY, secret, int(time.time())))) == "invalid_signature"
    signed = post(client, garbage, sender.sign(garbage, secret, int(time.time())))
    assert (signed.status_code, code(signed)) == (400, "malformed_payload")


def test_endpoint_without_a_resolvable_secret_fails_closed(client, sender, endpoint_factory):
    endpoint_factory(scheme=sender.scheme, secrets=[])
    response = post(client, BODY, sender.sign(BODY, sender.new_secret(), int(time.time())))
    assert (response.status_code, code(response)) == (401, "invalid_signature")


def test_redelivery_of_the_same_delivery_is_a_duplicate(client, sender, secret):
    """Senders retry with the same delivery id (or event id) and sometimes a fresh signature."""
    headers = sender.sign(BODY, secret, int(time.time()))
    first = post(client, BODY, headers)
    again = post(client, BODY, headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["event_id"] == first.json()["event_id"]


# Scheme-specific details ---------------------------------------------------------------------------


def test_delivery_ids_become_the_idempotency_keys(client, secrets, endpoint_factory):
    now = int(time.time())
    std, stripe_secret, gh, sl = whsec(), whsec(), "gh-secret", "slack-secret"
    cases = []
    for slug, scheme, secret, signer in (
        ("std", "standard_webhooks", std, SENDERS[0].sign),
        ("svx", "standard_webhooks", std, SENDERS[1].sign),
        ("str", "stripe", stripe_secret, sign_stripe),
        ("gh", "github", gh, SENDERS[3].sign),
        ("sl", "slack", sl, sign_slack),
    ):
        endpoint_factory(slug=slug, scheme=scheme, secrets=secrets(**{slug.upper(): secret}))
        headers = signer(BODY, secret, now)
        meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
        response = client.generic("POST", f"/automate/hooks/{slug}/", BODY, content_type="application/json", **meta)
        assert response.status_code == 202, response.json()
        cases.append((slug, Event.objects.get(id=response.json()["event_id"]).idempotency_key, headers))
    keys = {slug: key for slug, key, _ in cases}
    headers = {slug: h for slug, _, h in cases}
    assert keys["std"] == headers["std"]["webhook-id"]
    assert keys["svx"] == headers["svx"]["svix-id"]
    assert keys["str"] == "evt_1"
    assert keys["gh"] == headers["gh"]["x-github-delivery"]
    assert keys["sl"] == "Ev1"


def test_slack_retry_with_a_new_timestamp_is_a_duplicate(client, secrets, endpoint_factory):
    endpoint_factory(scheme="slack", secrets=secrets(SLACK="signing-secret"))
    now = int(time.time())
    first = post(client, BODY, sign_slack(BODY, "signing-secret", now - 60))
    retry = post(client, BODY, {**sign_slack(BODY, "signing-secret", now), "x-slack-retry-num": "1"})
    assert (first.status_code, retry.status_code) == (202, 200)
    assert retry.json()["event_id"] == first.json()["event_id"]


def test_slack_url_verification_echoes_the_challenge_and_stores_nothing(client, secrets, endpoint_factory):
    endpoint_factory(scheme="slack", secrets=secrets(SLACK="signing-secret"))
    body = json.dumps(
        {"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}
    )
    response = post(client, body.encode(), sign_slack(body.encode(), "signing-secret", int(time.time())))
    assert response.status_code == 200
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert Event.objects.count() == 0
    unsigned = post(client, body.encode(), {})
    assert code(unsigned) == "invalid_signature"


def test_stripe_header_with_a_signature_per_rolled_secret_is_accepted(client, secrets, endpoint_factory):
    new = whsec()
    endpoint_factory(scheme="stripe", secrets=secrets(STRIPE=new))
    now = int(time.time())
    old_header = sign_stripe(BODY, whsec(), now)["stripe-signature"]
    new_v1 = sign_stripe(BODY, new, now)["stripe-signature"].split(",")[1]
    header = f"{old_header},{new_v1},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39"
    stripe.WebhookSignature.verify_header(BODY.decode(), header, new, tolerance=300)  # Stripe agrees
    assert post(client, BODY, {"stripe-signature": header}).status_code == 202


def test_standard_webhooks_header_with_several_signatures_is_accepted(client, secrets, endpoint_factory):
    secret = whsec()
    endpoint_factory(scheme="standard_webhooks", secrets=secrets(STD=secret))
    headers = SENDERS[0].sign(BODY, secret, int(time.time()))
    other = standardwebhooks.Webhook(whsec()).sign(headers["webhook-id"], time_at(headers), BODY.decode())
    headers["webhook-signature"] = f"v1a,{'A' * 86}== {other} {headers['webhook-signature']}"
    standardwebhooks.Webhook(secret).verify(BODY, headers)  # the library agrees
    svix.webhooks.Webhook(secret).verify(BODY, headers)
    assert post(client, BODY, headers).status_code == 202


def time_at(headers):
    import datetime as dt

    return dt.datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=dt.timezone.utc)


@pytest.mark.parametrize("timestamp", ["", "abc", "1.5e9", "-1", "9" * 40])
def test_unreadable_timestamps_are_invalid_signatures(client, secrets, endpoint_factory, timestamp):
    endpoint_factory(scheme="slack", secrets=secrets(SLACK="s"))
    headers = {**sign_slack(BODY, "s", int(time.time())), "x-slack-request-timestamp": timestamp}
    response = post(client, BODY, headers)
    assert (response.status_code, code(response)) == (401, "invalid_signature")


@pytest.mark.parametrize(
    ("encoding", "accepted"), [("hex", {"hex", "HEX"}), ("base64", {"base64"}), ("", {"hex", "HEX", "base64"})]
)
def test_hmac_signature_encoding_and_header_are_configurable(client, secrets, endpoint_factory, encoding, accepted):
    endpoint_factory(
        scheme="hmac_sha256", secrets=secrets(HOOK="k"), signature_header="X-Shop-Hmac", signature_encoding=encoding
    )
    for form in ("hex", "HEX", "base64"):
        body = BODY.replace(b"evt_1", f"evt_{form}".encode())
        digest = hmac.new(b"k", body, hashlib.sha256).digest()
        value = {"hex": digest.hex(), "HEX": digest.hex().upper(), "base64": base64.b64encode(digest).decode()}[form]
        response = post(client, body, {"x-shop-hmac": value})
        assert (response.status_code == 202) == (form in accepted), (form, response.json())
    digest = hmac.new(b"k", BODY, hashlib.sha256).hexdigest()
    assert code(post(client, BODY, {"x-signature-256": digest})) == "invalid_signature"  # not the configured header


def test_github_documented_test_vector():
    delivery = schemes.Delivery(
        body=b"Hello, World!",
        headers={"x-hub-signature-256": "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"},
        secrets=("It's a Secret to Everybody",),
        now=time.time(),
    )
    github.verify(delivery)


def test_slack_documented_test_vector():
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    headers = {
        "x-slack-request-timestamp": "1531420618",
        "x-slack-signature": "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
    }
    delivery = schemes.Delivery(
        body=body, headers=headers, secrets=("8f742231b10e8888abcd99yyyzzz85a5",), now=1531420618
    )
    slack.verify(delivery)
    with pytest.raises(Exception, match="does not match"):
        slack.verify(schemes.Delivery(body=body + b" ", headers=headers, secrets=delivery.secrets, now=1531420618))


def test_unique_ids_do_not_collide_across_endpoints(client, secrets, endpoint_factory):
    """The same delivery id at two endpoints is two events (keys are unique per source)."""
    secret = whsec()
    endpoint_factory(slug="a", scheme="standard_webhooks", secrets=secrets(A=secret))
    endpoint_factory(slug="b", scheme="standard_webhooks", secrets=secrets(B=secret))
    headers = SENDERS[0].sign(BODY, secret, int(time.time()))
    meta = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in headers.items()}
    ids = {
        client.generic("POST", f"/automate/hooks/{slug}/", BODY, content_type="application/json", **meta).json()[
            "event_id"
        ]
        for slug in ("a", "b")
    }
    assert len(ids) == 2
    assert uuid.UUID(ids.pop())


def test_tolerance_zero_turns_the_timestamp_check_off(client, timed_sender, secrets, endpoint_factory):
    sender = timed_sender
    secret = sender.new_secret()
    endpoint_factory(scheme=sender.scheme, secrets=secrets(HOOK=secret), tolerance_seconds=0)
    assert post(client, BODY, sender.sign(BODY, secret, int(time.time()) - 86400 * 30)).status_code == 202


def test_an_empty_secret_is_never_a_key(client, secrets, endpoint_factory):
    endpoint_factory(scheme="hmac_sha256", secrets=secrets(EMPTY=""))
    forged = hmac.new(b"", BODY, hashlib.sha256).hexdigest()
    response = post(client, BODY, {"x-signature-256": forged})
    assert (response.status_code, code(response)) == (401, "invalid_signature")
