"""Cursor pagination: stable newest-first pages, polling for new rows, exactness under concurrent inserts."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from urllib.parse import urlencode

import pytest
from django.db import connection, transaction
from django.utils import timezone

from django_automate.audit import log as audit
from django_automate.models import Event

pytestmark = pytest.mark.django_db


def make_events(count: int, *, prefix: str = "bulk", tenant: str = "", type: str = "order.created") -> list[str]:
    events = [
        Event(tenant=tenant, source="api", type=type, idempotency_key=f"{prefix}:{i}", payload={"i": i}, trace_id="t")
        for i in range(count)
    ]
    Event.objects.bulk_create(events, batch_size=1000)
    return [str(e.id) for e in events]


def walk_older(client, path: str, limit: int) -> tuple[list[str], str]:
    """Follow ``next`` to the end; returns the ids and the first page's ``previous`` link."""
    page = client.get(f"{path}{'&' if '?' in path else '?'}limit={limit}").json()
    first_previous = page["previous"]
    seen = [r["id"] for r in page["results"]]
    while page["next"]:
        page = client.get(page["next"]).json()
        seen += [r["id"] for r in page["results"]]
    return seen, first_previous


def poll_newer(client, previous: str, until: float) -> tuple[list[str], str]:
    """Follow ``previous`` (newer rows) until it returns nothing new or ``until`` passes."""
    seen: list[str] = []
    while True:
        page = client.get(previous).json()
        seen += [r["id"] for r in page["results"]]
        previous = page["previous"]
        if not page["results"] and time.monotonic() >= until:
            return seen, previous
        if not page["results"]:
            time.sleep(0.05)


def test_pages_are_newest_first_and_exact_with_equal_timestamps(admin_api):
    ids = make_events(23)
    Event.objects.update(received_at=timezone.now() - timedelta(seconds=5))  # ties broken by id
    seen, _ = walk_older(admin_api, "events/", limit=5)
    assert sorted(seen) == sorted(ids) and len(seen) == 23
    # ties are broken by id, in the database's own UUID order (MariaDB's differs from Python's)
    assert seen == [str(i) for i in Event.objects.order_by("-received_at", "-id").values_list("id", flat=True)]


def test_previous_returns_rows_that_arrived_later_exactly_once(admin_api):
    old = make_events(7, prefix="old")
    seen, previous = walk_older(admin_api, "events/", limit=3)
    assert sorted(seen) == sorted(old)
    new = make_events(8, prefix="new")
    newer, previous = poll_newer(admin_api, previous, until=time.monotonic())
    assert sorted(newer) == sorted(new)
    assert admin_api.get(previous).json()["results"] == []


def test_next_after_previous_goes_back_to_older_rows(admin_api):
    ids = make_events(6)
    Event.objects.update(received_at=timezone.now() - timedelta(seconds=5))
    first = admin_api.get("events/?limit=2").json()
    second = admin_api.get(first["next"]).json()
    back = admin_api.get(second["previous"]).json()
    assert [r["id"] for r in back["results"]] == [r["id"] for r in first["results"]]
    assert [r["id"] for r in admin_api.get(back["next"]).json()["results"]] == [r["id"] for r in second["results"]]
    assert len(ids) == 6


def test_limit_and_cursor_are_validated(admin_api, settings):
    assert admin_api.get("events/?limit=501").status_code == 400
    assert admin_api.get("events/?limit=0").status_code == 400
    assert admin_api.get("events/?limit=x").status_code == 400
    for bad in ("nope", "e30", "eyJyIjo3LCJrIjpbMV19", "eyJyIjowLCJrIjpbIngiLCJ5Il19"):
        response = admin_api.get(f"events/?cursor={bad}")
        assert response.status_code == 400 and "cursor" in response.json()["details"]["fields"]
    make_events(60)
    assert len(admin_api.get("events/").json()["results"]) == 50  # default page size
    settings.AUTOMATE = {**settings.AUTOMATE, "API_PAGE_SIZE": 7}
    assert len(admin_api.get("events/").json()["results"]) == 7


def test_filters_combine_with_pagination(admin_api):
    make_events(5, prefix="a", type="order.created")
    paid = make_events(4, prefix="b", type="order.paid")
    seen, _ = walk_older(admin_api, "events/?type=order.paid", limit=3)
    assert sorted(seen) == sorted(paid)
    cutoff = timezone.now()
    later = make_events(2, prefix="c", type="order.paid")
    window = urlencode({"received_at_after": cutoff.isoformat(), "received_at_before": timezone.now().isoformat()})
    seen, _ = walk_older(admin_api, f"events/?{window}", limit=1)
    assert sorted(seen) == sorted(later)


def test_audit_entries_page_by_sequence(admin_api):
    for i in range(9):
        audit.record("test.paged", tenant="", data={"i": i})
    seen, previous = walk_older(admin_api, "audit/?action=test.paged", limit=4)
    sequence = [admin_api.get(f"audit/{i}/").json()["seq"] for i in seen]
    assert len(sequence) == 9 and sequence == sorted(sequence, reverse=True)
    audit.record("test.paged", tenant="", data={"i": 9})
    newer, _ = poll_newer(admin_api, previous, until=time.monotonic())
    assert len(newer) == 1


SIZES = {"sqlite": (2_000, 500), "postgresql": (20_000, 5_000), "mysql": (20_000, 5_000)}


@pytest.mark.django_db(transaction=True)
def test_paging_while_rows_are_inserted_sees_every_row_exactly_once(make_client, settings):
    """20,000 events paged 500 at a time while a thread inserts 5,000 more (2,000 / 500 on SQLite)."""
    settings.AUTOMATE = {**settings.AUTOMATE, "API_CURSOR_SAFETY_SECONDS": 0.2}
    client = make_client(superuser=True)
    existing_count, concurrent_count = SIZES[connection.vendor]
    pause = 0.02 if connection.vendor == "sqlite" else 0.002  # spread the inserts over the walk
    existing = make_events(existing_count, prefix="existing")
    time.sleep(0.25)  # older than the safety margin: these rows existed before the walk began
    inserted: list[str] = []
    during_walk = threading.Event()
    done = threading.Event()

    def insert() -> None:
        try:
            for batch in range(concurrent_count // 10):
                with transaction.atomic():
                    inserted.extend(make_events(10, prefix=f"concurrent-{batch}"))
                if batch == 0:
                    during_walk.set()
                time.sleep(pause)
        finally:
            done.set()
            connection.close()

    thread = threading.Thread(target=insert)
    thread.start()
    during_walk.wait(10)
    inserted_before_walk = len(inserted)
    seen, previous = walk_older(client, "events/", limit=500)
    inserted_during_walk = len(inserted) - inserted_before_walk
    thread.join(120)
    newer, _ = poll_newer(client, previous, until=time.monotonic() + 0.5)
    everything = seen + newer
    assert done.is_set() and inserted_during_walk > 0  # rows were committed while the walk went on
    assert len(everything) == len(set(everything)), "a row was returned twice"
    assert set(existing) <= set(seen), "a pre-existing row was skipped"
    assert set(everything) == set(existing) | set(inserted), "a concurrently inserted row was skipped"


@pytest.mark.django_db(transaction=True)
def test_rows_committed_late_are_not_skipped(make_client, settings):
    """A transaction stamps its event, then commits after a later event: the client still gets both, once.

    PostgreSQL answers at once, stopping before the open transaction; MySQL/MariaDB's locking
    page read waits for it to commit.
    """
    if connection.vendor == "sqlite":
        pytest.skip("SQLite has one writer at a time: a later event cannot commit while an earlier one is open")
    settings.AUTOMATE = {**settings.AUTOMATE, "API_CURSOR_SAFETY_SECONDS": 0.2}
    client = make_client(superuser=True)
    assert client.get("events/").status_code == 200  # warm up (URLs, token) outside the timed part
    stamped, release = threading.Event(), threading.Event()
    slow: list[str] = []
    first: dict = {}

    def slow_transaction() -> None:
        try:
            with transaction.atomic():
                slow.extend(make_events(1, prefix="slow"))
                stamped.set()
                release.wait(10)
        finally:
            connection.close()

    def read_first_page() -> None:
        try:
            first.update(client.get("events/").json())
        finally:
            connection.close()

    writer = threading.Thread(target=slow_transaction)
    writer.start()
    assert stamped.wait(10)
    time.sleep(0.4)  # the open transaction outlives the safety margin ...
    fast = make_events(1, prefix="fast")  # ... and a later event commits first
    time.sleep(0.4)
    reader = threading.Thread(target=read_first_page)
    reader.start()
    reader.join(2.0)
    if connection.vendor == "postgresql":
        assert not reader.is_alive() and first["results"] == [], "served a row past an open transaction"
    else:
        assert reader.is_alive(), "the locking page read did not wait for the open transaction"
    release.set()
    writer.join(10)
    reader.join(10)
    seen = [r["id"] for r in first["results"]]
    newer, _ = poll_newer(client, first["previous"], until=time.monotonic() + 0.5)
    assert sorted(seen + newer) == sorted(slow + fast)


@pytest.mark.django_db(transaction=True)
def test_a_page_blocked_by_a_long_writer_answers_conflict_on_mysql(make_client):
    """MySQL/MariaDB: a page waits for uncommitted rows; past the lock wait timeout it answers 409."""
    if connection.vendor != "mysql":
        pytest.skip("only MySQL/MariaDB pages are locking reads")
    client = make_client(superuser=True)
    stamped, release = threading.Event(), threading.Event()

    def long_writer() -> None:
        try:
            with transaction.atomic():
                make_events(1, prefix="long")
                stamped.set()
                release.wait(10)
        finally:
            connection.close()

    writer = threading.Thread(target=long_writer)
    writer.start()
    try:
        assert stamped.wait(10)
        time.sleep(0.2)
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        response = client.get("events/")
        assert response.status_code == 409 and response.json()["code"] == "conflict"
    finally:
        release.set()
        writer.join(10)
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = DEFAULT")
    assert len(client.get("events/").json()["results"]) == 1
