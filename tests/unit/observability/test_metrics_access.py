"""Who may read metrics: closed by default, a bearer token, a network allowlist, or both."""

from __future__ import annotations

import pytest
from django.test import RequestFactory, override_settings

from django_automate import exceptions
from django_automate.observability.access import require_metrics_access

TOKEN = "s3cr3t-metrics-token-0123456789"


def request(remote: str = "127.0.0.1", authorization: str | None = None):
    headers = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    return RequestFactory().get("/automate/metrics/", REMOTE_ADDR=remote, **headers)


def settings_with(**values):
    from django.conf import settings

    return override_settings(AUTOMATE={**settings.AUTOMATE, **values})


def test_metrics_are_closed_until_a_setting_opens_them():
    with pytest.raises(exceptions.PermissionDenied, match="METRICS_TOKEN"):
        require_metrics_access(request())


def test_a_token_must_be_presented_as_bearer_and_match():
    with settings_with(METRICS_TOKEN=TOKEN):
        require_metrics_access(request(authorization=f"Bearer {TOKEN}"))
        require_metrics_access(request(authorization=f"bearer  {TOKEN}"))
        for bad in (None, f"Bearer {TOKEN}x", f"Basic {TOKEN}", "Bearer ", TOKEN):
            with pytest.raises(exceptions.NotAuthenticated):
                require_metrics_access(request(authorization=bad))


def test_a_token_can_be_a_secret_reference():
    with settings_with(METRICS_TOKEN="$secret:METRICS", SECRETS={"METRICS": TOKEN}):
        require_metrics_access(request(authorization=f"Bearer {TOKEN}"))
        with pytest.raises(exceptions.NotAuthenticated):
            require_metrics_access(request(authorization="Bearer $secret:METRICS"))


def test_an_allowlist_admits_its_networks_only_including_ipv4_mapped_addresses():
    with settings_with(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8", "2001:db8::/32"]):
        require_metrics_access(request("10.1.2.3"))
        require_metrics_access(request("::ffff:10.9.9.9"))
        require_metrics_access(request("2001:db8::5"))
        for outside in ("127.0.0.1", "11.0.0.1", "2001:db9::1", "not-an-ip"):
            with pytest.raises(exceptions.PermissionDenied):
                require_metrics_access(request(outside))


def test_with_token_and_allowlist_both_must_hold():
    with settings_with(METRICS_TOKEN=TOKEN, METRICS_ALLOWED_NETWORKS=["127.0.0.0/8"]):
        require_metrics_access(request("127.0.0.1", f"Bearer {TOKEN}"))
        with pytest.raises(exceptions.NotAuthenticated):
            require_metrics_access(request("127.0.0.1"))
        with pytest.raises(exceptions.PermissionDenied):
            require_metrics_access(request("192.0.2.1", f"Bearer {TOKEN}"))
