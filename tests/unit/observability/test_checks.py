"""System checks for the observability settings (automate.E070 to E079, W070 to W079)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import override_settings

from django_automate.observability.checks import observability_messages


def ids(**values: object) -> list[str]:
    """The check ids, leaving out W070 (prometheus-client missing), which depends on the environment.

    W070 is asserted by the test that runs without the extras.
    """
    with override_settings(AUTOMATE={**settings.AUTOMATE, **values}):
        return [message.id or "" for message in observability_messages() if message.id != "automate.W070"]


def test_defaults_raise_nothing():
    assert ids() == []


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"METRICS_TOKEN": ""}, ["automate.E070"]),
        ({"METRICS_TOKEN": 1234}, ["automate.E070"]),
        ({"METRICS_TOKEN": "short"}, ["automate.W071"]),
        ({"METRICS_TOKEN": "$secret:METRICS"}, []),
        ({"METRICS_ALLOWED_NETWORKS": ["10.0.0.0/8", "10.0.0.300/32"]}, ["automate.E071"]),
        ({"METRICS_ALLOWED_NETWORKS": "10.0.0.0/8"}, ["automate.E071"]),
        ({"METRICS_ALLOWED_NETWORKS": ["::1", "192.168.1.7"]}, []),
        ({"METRICS_ROW_COUNTS": "yes"}, ["automate.E073"]),
        ({"HEALTH_MAX_OUTBOX_LAG_SECONDS": 0}, ["automate.E072"]),
        ({"HEALTH_WORKER_STALE_SECONDS": -1}, ["automate.E072"]),
        ({"HEALTH_WORKER_STALE_SECONDS": 1}, ["automate.W072"]),
        ({"HEALTH_WORKER_STALE_SECONDS": 600}, []),
    ],
)
def test_invalid_settings_are_reported_with_their_id(values, expected):
    assert ids(**values) == expected
