"""Redaction by key, masking of resolved secrets, SecretRef resolution and retry delays."""

from __future__ import annotations

import random

import pytest

from django_automate.outbox.retry import RetryPolicy
from django_automate.policy.redaction import REDACTED, mask_values, redact
from django_automate.secrets.refs import Resolver, SecretNotFound, env_var_name


def test_values_under_sensitive_keys_are_redacted_at_any_depth():
    data = {"user": "bob", "Password": "p", "nested": [{"apiKey": "k", "ok": 1}], "X-Signature": "s"}
    assert redact(data) == {
        "user": "bob",
        "Password": REDACTED,
        "nested": [{"apiKey": REDACTED, "ok": 1}],
        "X-Signature": REDACTED,
    }


def test_extra_redaction_keys_come_from_settings(settings):
    settings.AUTOMATE = {"REDACT_KEYS": ["iban"]}
    assert redact({"customer_IBAN": "DE00"}) == {"customer_IBAN": REDACTED}


def test_resolved_secret_values_are_masked_in_strings():
    assert mask_values({"a": "Bearer abc123", "b": ["abc123!"]}, {"abc123"}) == {
        "a": f"Bearer {REDACTED}",
        "b": [f"{REDACTED}!"],
    }


@pytest.mark.django_db  # the chain ends with the encrypted database backend
def test_secret_refs_resolve_from_environment_before_settings(settings, monkeypatch):
    settings.AUTOMATE = {"SECRETS": {"api.token": "from-settings", "OTHER": "o"}}
    monkeypatch.setenv(env_var_name("api.token"), "from-env")
    resolver = Resolver()
    assert env_var_name("api.token") == "AUTOMATE_SECRET_API_TOKEN"
    assert resolver.resolve({"h": "Bearer $secret:api.token", "o": ["$secret:OTHER"]}) == {
        "h": "Bearer from-env",
        "o": ["o"],
    }
    assert resolver.values == {"from-env", "o"}
    with pytest.raises(SecretNotFound) as info:
        resolver.resolve("$secret:MISSING")
    assert info.value.code == "secret_not_found" and "from-env" not in info.value.message


def test_full_jitter_backoff_stays_within_the_exponential_ceiling():
    policy = RetryPolicy(max_attempts=10, initial_seconds=1, max_seconds=30)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (5, 16), (9, 30)]:
        delays = [policy.delay(attempt, rng=rng) for _ in range(200)]
        assert 0 <= min(delays) and max(delays) <= ceiling
        assert max(delays) > ceiling / 2  # jitter spreads over the whole range


def test_retry_after_is_honoured_up_to_the_maximum():
    policy = RetryPolicy(max_attempts=3, initial_seconds=1, max_seconds=60)
    assert policy.delay(1, retry_after=20) >= 20
    assert policy.delay(1, retry_after=3600) <= 60
