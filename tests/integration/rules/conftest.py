"""Each test starts with no cached rule index, as a freshly started process would."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from django_automate.rules import cache


@pytest.fixture(autouse=True)
def fresh_rule_cache() -> Iterator[None]:
    cache.clear()
    yield
    cache.clear()
