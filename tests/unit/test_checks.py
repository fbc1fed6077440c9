"""System checks catch bad AUTOMATE settings with namespaced ids."""

from __future__ import annotations

from django_automate.checks import check_settings


def ids(settings_value, settings):
    settings.AUTOMATE = settings_value
    return [message.id for message in check_settings()]


def test_defaults_pass(settings):
    assert ids({}, settings) == []


def test_bad_settings_are_reported(settings):
    assert ids([], settings) == ["automate.E001"]
    assert ids({"NOPE": 1}, settings) == ["automate.E002"]
    assert ids({"EXECUTION_BACKEND": "carrier-pigeon"}, settings) == ["automate.E003"]
    assert ids({"LEASE_SECONDS": -1}, settings) == ["automate.E004"]
    assert ids({"IDEMPOTENCY_RETENTION_HOURS": 1}, settings) == ["automate.E005"]
    assert ids({"LEASE_SECONDS": 10, "HEARTBEAT_SECONDS": 20}, settings) == ["automate.E006"]


def test_the_worker_batch_size_is_a_whole_number_from_one_to_a_thousand(settings):
    for bad in (0, -3, 1001, 2.5, "10", True, None):
        assert ids({"WORKER_BATCH_SIZE": bad}, settings) == ["automate.E007"], bad
    for good in (1, 10, 1000):
        assert ids({"WORKER_BATCH_SIZE": good}, settings) == [], good
