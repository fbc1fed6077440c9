"""How each real sender signs a delivery: with its own library where it publishes one.

Standard Webhooks and Svix sign with ``standardwebhooks`` / ``svix``, Stripe with
``stripe.WebhookSignature.generate_signature_header``; GitHub and Slack publish no Python
signer, so their documented algorithms are used (checked against their published test
vectors in test_schemes.py).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import standardwebhooks
import stripe
import svix.webhooks

Headers = dict[str, str]


@dataclass(frozen=True)
class Sender:
    name: str
    scheme: str
    new_secret: Callable[[], str]
    sign: Callable[[bytes, str, int], Headers]
    signature_headers: tuple[str, ...]
    timestamped: bool = True


def _when(timestamp: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)


def whsec() -> str:
    return "whsec_" + base64.b64encode(os.urandom(24)).decode()


def plain_secret() -> str:
    return base64.urlsafe_b64encode(os.urandom(18)).decode()


def sign_standard_webhooks(body: bytes, secret: str, timestamp: int) -> Headers:
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = standardwebhooks.Webhook(secret).sign(msg_id, _when(timestamp), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def sign_svix(body: bytes, secret: str, timestamp: int) -> Headers:
    msg_id = f"msg_{uuid.uuid4().hex}"
    signature = svix.webhooks.Webhook(secret).sign(msg_id, _when(timestamp), body.decode())
    return {"svix-id": msg_id, "svix-timestamp": str(timestamp), "svix-signature": signature}


def sign_stripe(body: bytes, secret: str, timestamp: int) -> Headers:
    header = stripe.WebhookSignature.generate_signature_header(body.decode(), secret, timestamp=timestamp)
    return {"stripe-signature": header}


def sign_github(body: bytes, secret: str, timestamp: int) -> Headers:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"x-hub-signature-256": f"sha256={digest}", "x-github-delivery": str(uuid.uuid4())}


def sign_slack(body: bytes, secret: str, timestamp: int) -> Headers:
    base = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"x-slack-signature": f"v0={digest}", "x-slack-request-timestamp": str(timestamp)}


def sign_hmac(body: bytes, secret: str, timestamp: int) -> Headers:
    return {"x-signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


SENDERS = [
    Sender(
        "standard_webhooks",
        "standard_webhooks",
        whsec,
        sign_standard_webhooks,
        ("webhook-id", "webhook-timestamp", "webhook-signature"),
    ),
    Sender("svix", "standard_webhooks", whsec, sign_svix, ("svix-id", "svix-timestamp", "svix-signature")),
    Sender("stripe", "stripe", whsec, sign_stripe, ("stripe-signature",)),
    Sender("github", "github", plain_secret, sign_github, ("x-hub-signature-256",), timestamped=False),
    Sender("slack", "slack", plain_secret, sign_slack, ("x-slack-signature", "x-slack-request-timestamp")),
    Sender("hmac_sha256", "hmac_sha256", plain_secret, sign_hmac, ("x-signature-256",), timestamped=False),
]


def sign_standard_webhooks_bytes(body: bytes, secret: str, timestamp: int) -> Headers:
    """The Standard Webhooks algorithm on any bytes (the library only signs text)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    msg_id = f"msg_{uuid.uuid4().hex}"
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": "v1," + b64(digest)}


def sign_stripe_bytes(body: bytes, secret: str, timestamp: int) -> Headers:
    """Stripe's algorithm on any bytes (the library only signs text)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"stripe-signature": f"t={timestamp},v1={digest}"}


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
