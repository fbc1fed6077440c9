"""Test settings with the database cache, which every process of a deployment shares."""

from __future__ import annotations

from tests.settings import *  # noqa: F403

CACHE_TABLE = "automate_test_shared_cache"
CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": CACHE_TABLE}}
