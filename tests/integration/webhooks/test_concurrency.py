"""Idempotency is decided by the database, also when identical deliveries race.

Every round sends one delivery 100 times at once (released together by a barrier) to a real
threaded HTTP server; exactly one request stores the event and its routing job, the others
answer 200 with the same ids.
"""

from __future__ import annotations

import http.client
import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from django_automate.models import Event, OutboxJob
from tests.integration.webhooks.server import running_server

pytestmark = pytest.mark.django_db(transaction=True)


def post(port: int, body: bytes, key: str, barrier: threading.Barrier) -> tuple[int, dict]:
    client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    barrier.wait(timeout=60)
    client.request(
        "POST",
        "/automate/hooks/orders/",
        body=body,
        headers={"Content-Type": "application/json", "Idempotency-Key": key},
    )
    response = client.getresponse()
    data = json.loads(response.read())
    client.close()
    return response.status, data


def test_concurrent_identical_deliveries_store_one_event_and_one_job_each(endpoint_factory):
    if connection.vendor == "sqlite":
        rounds, concurrency, threads = 5, 20, 4  # SQLite has one writer at a time
    else:
        rounds, concurrency, threads = 50, 100, 24
    endpoint_factory()
    with running_server(threads=threads) as served, ThreadPoolExecutor(concurrency) as pool:
        port = int(served.url.rsplit(":", 1)[1])
        for n in range(rounds):
            body = json.dumps({"round": n, "total": 10 * n}).encode()
            barrier = threading.Barrier(concurrency)
            futures = [pool.submit(post, port, body, f"delivery-{n}", barrier) for _ in range(concurrency)]
            results = [future.result() for future in futures]

            statuses = Counter(status for status, _ in results)
            assert statuses == {202: 1, 200: concurrency - 1}, (n, statuses, results[:3])
            assert len({data["event_id"] for _, data in results}) == 1
            assert len({data["trace_id"] for _, data in results}) == 1
            assert {data["duplicate"] for status, data in results if status == 200} == {True}

    assert Event.objects.count() == rounds
    assert OutboxJob.objects.count() == rounds
    assert sorted(Event.objects.values_list("payload__round", flat=True)) == list(range(rounds))
    assert set(OutboxJob.objects.values_list("event_id", flat=True)) == set(Event.objects.values_list("id", flat=True))
