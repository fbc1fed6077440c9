"""System checks for the webhook settings (automate.E020)."""

from __future__ import annotations

from django_automate.checks import check_webhook_settings


def ids(settings) -> list[str]:
    return [message.id for message in check_webhook_settings()]


def test_default_cache_passes(settings):
    assert ids(settings) == []


def test_rate_limit_cache_must_be_a_configured_cache(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "WEBHOOK_RATE_LIMIT_CACHE": "shared"}
    assert ids(settings) == ["automate.E020"]
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "shared": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "automate_cache"},
    }
    assert ids(settings) == []
