"""Reading responses: Retry-After, content decoding under the cap, status mapping."""

from __future__ import annotations

import email.utils
import time
import zlib

import httpx
import pytest

from django_automate.connectors.base import PermanentError, RetryableError
from django_automate.connectors.responses import parse_retry_after, read_body, status_error


@pytest.mark.parametrize(("header", "seconds"), [("0", 0.0), ("120", 120.0), (None, None), ("", None), ("1.5", None)])
def test_retry_after_in_seconds(header, seconds):
    assert parse_retry_after(header) == seconds


def test_retry_after_as_dates():
    future = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 < parse_retry_after(future) <= 60
    past = email.utils.formatdate(time.time() - 60, usegmt=True)
    assert parse_retry_after(past) == 0.0
    naive = email.utils.formatdate(time.time() + 60).replace("+0000", "-0000")  # "-0000": no zone information
    assert 55 < parse_retry_after(naive) <= 60
    assert parse_retry_after("Mon, 99 Foo 2024 00:00:00 GMT") is None


def response(body: bytes, **headers: str) -> httpx.Response:
    request = httpx.Request("GET", "http://example.test/")
    return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body), request=request)


@pytest.mark.parametrize("wbits", [zlib.MAX_WBITS, -zlib.MAX_WBITS])
def test_deflate_with_and_without_the_zlib_header(wbits):
    compressor = zlib.compressobj(wbits=wbits)
    body = compressor.compress(b"hello " * 100) + compressor.flush()
    assert read_body(response(body, **{"content-encoding": "deflate"}), 10_000) == b"hello " * 100
    with pytest.raises(PermanentError) as caught:
        read_body(response(body, **{"content-encoding": "deflate"}), 100)
    assert caught.value.code == "response_too_large"


@pytest.mark.parametrize("encoding", ["br", "zstd", "gzip, gzip"])
def test_unsupported_encodings_are_refused(encoding):
    with pytest.raises(PermanentError) as caught:
        read_body(response(b"x", **{"content-encoding": encoding}), 100)
    assert caught.value.code == "invalid_response"


def test_corrupt_gzip_is_refused():
    with pytest.raises(PermanentError):
        read_body(response(b"not gzip at all", **{"content-encoding": "gzip"}), 100)


@pytest.mark.parametrize(
    ("status", "kind", "code"),
    [
        (200, None, None),
        (304, PermanentError, "http_error"),
        (404, PermanentError, "http_error"),
        (410, PermanentError, "http_gone"),
        (425, RetryableError, "http_error"),
        (503, RetryableError, "http_error"),
    ],
)
def test_status_mapping(status, kind, code):
    error = status_error(httpx.Response(status, request=httpx.Request("GET", "http://example.test/")), b"")
    if kind is None:
        assert error is None
    else:
        assert isinstance(error, kind) and error.code == code
