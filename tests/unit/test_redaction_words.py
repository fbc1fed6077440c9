"""Redaction compares key names word by word: GitHub payloads keep their flags and URL templates."""

from __future__ import annotations

import pytest

from django_automate.policy.redaction import REDACTED, is_sensitive, redact, words

# The shape GitHub sends with a push event (trimmed, values as GitHub sends them).
GITHUB_PUSH = {
    "ref": "refs/heads/main",
    "before": "6113728f27ae82c7b1a177c8d03f9e96e0adf246",
    "after": "0000000000000000000000000000000000000000",
    "repository": {
        "id": 186853002,
        "node_id": "MDEwOlJlcG9zaXRvcnkxODY4NTMwMDI=",
        "name": "Hello-World",
        "full_name": "octocat/Hello-World",
        "private": False,
        "owner": {"login": "octocat", "id": 1, "type": "User", "site_admin": False},
        "html_url": "https://github.com/octocat/Hello-World",
        "keys_url": "https://api.github.com/repos/octocat/Hello-World/keys{/key_id}",
        "git_refs_url": "https://api.github.com/repos/octocat/Hello-World/git/refs{/sha}",
        "deployments_url": "https://api.github.com/repos/octocat/Hello-World/deployments",
        "visibility": "public",
        "default_branch": "main",
    },
    "pusher": {"name": "octocat", "email": "octocat@github.com"},
    "installation": {"id": 2, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMg=="},
    "head_commit": {"id": "0d1a26e", "message": "Update README", "distinct": True},
}


def test_github_push_payload_keeps_its_private_flag_and_url_templates():
    assert redact(GITHUB_PUSH) == GITHUB_PUSH


def test_github_deploy_key_event_hides_the_key_but_not_its_id():
    deploy_key = {"action": "created", "key": {"id": 123, "key": "ssh-rsa AAAA…", "read_only": True}}
    assert redact(deploy_key) == {"action": "created", "key": REDACTED}
    assert redact(deploy_key["key"]) == {"id": 123, "key": REDACTED, "read_only": True}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("private_key", ("private", "key")),
        ("privateKey", ("private", "key")),
        ("X-API-Key", ("x", "api", "key")),
        ("APIKey", ("api", "key")),
        ("x-hub-signature-256", ("x", "hub", "signature", "256")),
        ("HTTP_AUTHORIZATION", ("http", "authorization")),
        ("sessionID", ("session", "id")),
    ],
)
def test_key_names_split_into_words_whatever_their_casing(name, expected):
    assert words(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "user_password",
        "password_hash",
        "passwd",
        "passphrase",
        "secret",
        "client_secret",
        "clientSecret",
        "token",
        "access_token",
        "accessToken",
        "authtoken",
        "api_key",
        "apiKey",
        "apikey",
        "X-Api-Key",
        "private_key",
        "privateKey",
        "private_key_pem",
        "private_note",
        "ssh_keys",
        "Idempotency-Key",
        "Authorization",
        "Cookie",
        "Set-Cookie",
        "session_id",
        "sessionid",
        "X-CSRFToken",
        "credentials",
        "Stripe-Signature",
    ],
)
def test_names_holding_a_sensitive_word_are_hidden(name):
    assert is_sensitive(name)


@pytest.mark.parametrize(
    "name",
    ["private", "is_private", "keys_url", "deploy_keys_url", "key_id", "keyboard", "monkey", "turkey", "node_id"],
)
def test_names_merely_containing_a_sensitive_fragment_are_kept(name):
    assert not is_sensitive(name)


def test_defaults_can_be_removed_and_extended(settings):
    settings.AUTOMATE = {"REDACT_KEYS_EXCLUDE": ["session"], "REDACT_KEYS": ["iban", "shop-domain"]}
    assert redact({"session_id": "s", "customer_IBAN": "DE00", "x-shop-domain": "a", "token": "t"}) == {
        "session_id": "s",
        "customer_IBAN": REDACTED,
        "x-shop-domain": REDACTED,
        "token": REDACTED,
    }


def test_excluding_private_shows_private_notes(settings):
    settings.AUTOMATE = {"REDACT_KEYS_EXCLUDE": ["Private"]}
    assert redact({"private_note": "n", "private_key": "k"}) == {"private_note": "n", "private_key": REDACTED}
