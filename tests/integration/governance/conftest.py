"""Fixtures for the governance tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connections
from django.db.backends.signals import connection_created

# Durability of each commit is not what these tests are about; waiting for the disk is most of their time.
_RELAXED = {"sqlite": "PRAGMA synchronous = OFF", "postgresql": "SET synchronous_commit = off"}
_RESTORED = {"sqlite": "PRAGMA synchronous = FULL", "postgresql": "RESET synchronous_commit"}


def _relax(connection: Any) -> None:
    sql = _RELAXED.get(connection.vendor)
    if sql:
        with connection.cursor() as cursor:
            cursor.execute(sql)


@pytest.fixture
def fast_commits(transactional_db: None) -> Iterator[None]:
    """Commits that do not wait for the disk, on this thread's connection and every connection opened meanwhile."""

    def on_created(sender: Any, connection: Any, **kwargs: Any) -> None:
        _relax(connection)

    connection_created.connect(on_created)
    _relax(connections["default"])
    try:
        yield
    finally:
        connection_created.disconnect(on_created)
        sql = _RESTORED.get(connections["default"].vendor)
        if sql:
            with connections["default"].cursor() as cursor:
                cursor.execute(sql)


@pytest.fixture
def no_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name resolution lies outside the machine: IP literals resolve, every name fails like NXDOMAIN."""
    real = socket.getaddrinfo

    def resolve(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        try:
            return real(name, port, *args, **{**kwargs, "flags": kwargs.get("flags", 0) | socket.AI_NUMERICHOST})
        except socket.gaierror:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
