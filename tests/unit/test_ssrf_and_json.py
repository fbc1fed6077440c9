"""JSON depth limits (the SSRF guard's tests live in tests/unit/connectors/test_ssrf.py)."""

from __future__ import annotations

import pytest

from django_automate import exceptions
from django_automate.internal.jsonutil import loads_limited, nesting_depth


def test_nesting_depth_ignores_brackets_inside_strings():
    assert nesting_depth('{"a": [1, {"b": "[[[{{{"}]}') == 3
    assert nesting_depth('"\\"[["') == 0


def test_pathological_strings_are_parsed_in_linear_time():
    import time

    started = time.perf_counter()
    with pytest.raises(exceptions.MalformedPayload):
        loads_limited(b'"' + b'\\"' * 200_000, max_depth=64)  # an unterminated string of escaped quotes
    assert time.perf_counter() - started < 5  # a hang guard; the old bracket scan took minutes here


def test_loads_limited_rejects_deep_invalid_and_non_utf8_documents():
    assert loads_limited(b"[" * 64 + b"]" * 64, max_depth=64)
    for raw in [b"[" * 10_000 + b"]" * 10_000, b"{", b"\xff\xfe", b"NaN", b'{"a": Infinity}']:
        with pytest.raises(exceptions.MalformedPayload):
            loads_limited(raw, max_depth=64)
