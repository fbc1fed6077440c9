"""Fixtures for trigger tests: a second database alias, and tracking the test app's models."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connections
from django.db.utils import load_backend

from django_automate.ingestion import tracking
from tests.testapp.models import Article, Comment

OTHER = "other"


@pytest.fixture
def other_alias(transactional_db: None) -> Iterator[str]:
    """A second alias, ``"other"``: its own connection (and transactions) to the test database.

    Created on the fly rather than in settings, so the suite needs no second database. Django
    allows such dynamically created connections in tests.
    """
    settings_dict = dict(connections["default"].settings_dict)
    backend = load_backend(settings_dict["ENGINE"])
    connection = backend.DatabaseWrapper(settings_dict, OTHER)
    setattr(connections._connections, OTHER, connection)
    try:
        yield OTHER
    finally:
        connection.close()
        delattr(connections._connections, OTHER)


@pytest.fixture
def untrack_after() -> Iterator[None]:
    """Tests track models themselves; nothing stays tracked afterwards."""
    yield
    for model in (Article, Comment):
        tracking.untrack(model)
