"""The body cap holds for every framing, through a real socket.

The Django app runs behind ``server.running_server``: wsgiref plus chunked decoding and
``wsgi.input_terminated``, as gunicorn provides. The server counts the bytes the application
pulled from each request stream; the client sends far more than the cap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from django_automate.models import Event
from tests.integration.webhooks.server import Served, raw_request, running_server

pytestmark = pytest.mark.django_db(transaction=True)

CAP = 10_000
PIECE = 16 * 1024
SENT = 4 * 1024 * 1024  # 4 MiB offered, 400 times the cap
PATH = "/automate/hooks/orders/"


@pytest.fixture
def served(endpoint_factory) -> Iterator[Served]:
    endpoint_factory(max_body_bytes=CAP)
    with running_server(threads=2, linger=True) as served:
        yield served


def head(*lines: str) -> bytes:
    return ("\r\n".join([f"POST {PATH} HTTP/1.1", "Host: 127.0.0.1", *lines]) + "\r\n\r\n").encode()


def flood(total: int = SENT) -> Iterator[bytes]:
    yield b'{"pad": "'
    for _ in range(total // PIECE):
        yield b"x" * PIECE


def chunked(pieces: Iterator[bytes]) -> Iterator[bytes]:
    for piece in pieces:
        yield f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    yield b"0\r\n\r\n"


def assert_too_large(response) -> None:
    assert response.status == 413
    body = json.loads(response.body)
    assert body["code"] == "payload_too_large"
    assert body["details"] == {"max_body_bytes": CAP}
    assert body["trace_id"] == response.headers["x-trace-id"]


def test_declared_length_over_the_cap_is_refused_before_reading(served):
    response = raw_request(served.url, head("Content-Type: application/json", f"Content-Length: {SENT}"), flood())
    assert_too_large(response)
    assert served.consumed == [0]


def test_chunked_body_over_the_cap_is_refused_after_cap_plus_one_chunk(served):
    response = raw_request(
        served.url, head("Content-Type: application/json", "Transfer-Encoding: chunked"), chunked(flood())
    )
    assert_too_large(response)
    # The bytes pulled off the stream include chunk framing: at most the cap plus one chunk.
    assert CAP < served.consumed[0] <= CAP + PIECE + 64
    assert Event.objects.count() == 0


def test_body_without_any_length_is_capped_while_reading(served):
    response = raw_request(served.url, head("Content-Type: application/json"), flood())
    assert_too_large(response)
    assert served.consumed == [CAP + 1]


def test_understated_length_never_lets_more_than_the_declared_bytes_through(served):
    response = raw_request(served.url, head("Content-Type: application/json", "Content-Length: 40"), flood())
    assert response.status == 400
    assert json.loads(response.body)["code"] == "malformed_payload"  # the first 40 bytes are not a document
    assert served.consumed == [40]


def test_chunked_body_within_the_cap_is_decoded_and_accepted(served):
    document = json.dumps({"id": 7, "lines": ["a" * 100] * 20}).encode()
    pieces = iter([document[i : i + 300] for i in range(0, len(document), 300)])
    response = raw_request(
        served.url, head("Content-Type: application/json", "Transfer-Encoding: chunked"), chunked(pieces)
    )
    assert response.status == 202, response.body
    event = Event.objects.get(id=json.loads(response.body)["event_id"])
    assert event.payload == json.loads(document)
    assert served.consumed[0] > len(document)  # framing included: it really was chunked


def test_body_with_content_length_is_accepted(served):
    document = b'{"id": 8}'
    response = raw_request(
        served.url, head("Content-Type: application/json", f"Content-Length: {len(document)}"), [document]
    )
    assert response.status == 202
    assert Event.objects.get().payload == {"id": 8}
    assert served.consumed == [len(document)]
