"""Fixtures for connector tests: controllable name resolution and canary servers on loopback."""

from __future__ import annotations

import re
import socket
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest

from django_automate.testing import HttpRecorder, local_http_server

_REAL_GETADDRINFO = socket.getaddrinfo
_NUMERIC = re.compile(r"^[0-9a-fA-FxX.:%]+$|^[0-9a-zA-Z:.%]*:[0-9a-zA-Z:.%]*$")


@dataclass
class FakeDns:
    """Answers for made-up names (``*.test`` and friends); a list of lists answers differently per call."""

    answers: dict[str, list[Any]] = field(default_factory=dict)
    calls: Counter[str] = field(default_factory=Counter)

    def resolve(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.calls[name] += 1
        if name in self.answers:
            answer = self.answers[name]
            if answer and isinstance(answer[0], list):  # one answer per call, the last one repeats
                answer = answer[min(self.calls[name], len(answer)) - 1]
            infos = []
            for address in answer:
                fam = socket.AF_INET6 if ":" in address else socket.AF_INET
                sockaddr = (address, int(port or 0), 0, 0) if fam == socket.AF_INET6 else (address, int(port or 0))
                infos.append((fam, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", sockaddr))
            return infos
        if name.lower() == "localhost":
            return _REAL_GETADDRINFO(host, port, family, type, proto, flags)
        if _NUMERIC.match(name):  # IP literals in any notation libc accepts; never a DNS query
            return _REAL_GETADDRINFO(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    """Name resolution is outside the system: made-up names resolve as the test says, others not at all."""
    dns = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", dns.resolve)
    return dns


@dataclass
class Canary:
    """HTTP servers on 127.0.0.1 and [::1] sharing one port; ``connections`` counts both."""

    port: int
    servers: list[HttpRecorder]

    @property
    def connections(self) -> int:
        return sum(s.connections for s in self.servers)


@pytest.fixture
def canary() -> Iterator[Canary]:
    for _ in range(20):
        with ExitStack() as stack:
            v4 = stack.enter_context(local_http_server("127.0.0.1"))
            port = int(v4.url.rsplit(":", 1)[1])
            try:
                v6 = stack.enter_context(local_http_server("::1", port))
            except OSError:
                continue  # the port is taken on ::1; try another
            yield Canary(port, [v4, v6])
            return
    raise RuntimeError("Could not find a port free on both 127.0.0.1 and ::1")
