"""A worker frozen *inside* a database transaction: its rows are taken over within the documented bound.

The worker is stopped (SIGSTOP) at a moment when the server shows its session idle in a
transaction that holds row locks. Without a server-side bound those locks would last until
the worker wakes up, and ``SKIP LOCKED`` claims would pass its job by for as long.

A running worker's transactions last milliseconds, so stopping it at a random moment rarely
lands inside one. While the test looks for that moment, a trigger of its own makes each run
insert sleep on the server: the worker then spends most of its time inside its routing
transaction, and a stop almost always catches it there. The trigger is switched off as soon as
the worker is caught, so the rescuer works at full speed.
"""

from __future__ import annotations

import random
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection, transaction

import django_automate
from django_automate.models import Event, ExecutionRun, JobStatus, OutboxJob
from tests.acceptance.conftest import WorkerProcess, wait_for, wait_ready

pytestmark = [
    pytest.mark.acceptance,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor == "sqlite", reason="one SQLite file has no concurrent sessions to bound"),
]

LEASE = 3  # seconds
#: docs/scaling.md: a job held by a frozen worker is claimable again after LEASE_SECONDS, plus one
#: recovery pass (a quarter of a lease) and a poll. The slack covers a loaded CI machine.
BOUND = LEASE + LEASE / 4 + 3


def frozen_transactions() -> set[int]:
    """Sessions of other clients of this database, idle for 0.3 s inside a transaction that holds row locks.

    A running worker's transactions last milliseconds: a session idle that long is the stopped one's.
    """
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                " AND state = 'idle in transaction' AND backend_xid IS NOT NULL AND pid <> pg_backend_pid()"
                " AND state_change < now() - interval '0.3 seconds'"
            )
        else:
            cursor.execute(
                "SELECT p.ID FROM information_schema.innodb_trx t"
                " JOIN information_schema.processlist p ON p.ID = t.trx_mysql_thread_id"
                " WHERE p.COMMAND = 'Sleep' AND t.trx_rows_locked > 0 AND p.DB = DATABASE() AND p.TIME_MS > 300"
                " AND p.ID <> CONNECTION_ID()"
            )
        return {int(row[0]) for row in cursor.fetchall()}


def sessions_alive(ids: set[int]) -> set[int]:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [list(ids)])
        else:
            cursor.execute(
                f"SELECT ID FROM information_schema.processlist WHERE ID IN ({', '.join(['%s'] * len(ids))})",
                list(ids),
            )
        return {int(row[0]) for row in cursor.fetchall()}


def locked_jobs() -> set[int]:
    """Unfinished jobs whose rows another session holds locked now (and 0.3 s later: not a running worker's)."""

    def probe() -> set[int]:
        with transaction.atomic():
            unfinished = set(OutboxJob.objects.exclude(status=JobStatus.DONE).values_list("id", flat=True))
            free = OutboxJob.objects.select_for_update(skip_locked=True).filter(id__in=unfinished)
            return unfinished - set(free.values_list("id", flat=True))

    first = probe()
    time.sleep(0.3)
    return first & probe()


@contextmanager
def slow_run_inserts(seconds: float = 0.1) -> Iterator[None]:
    """While the flag table has a row, each ExecutionRun insert sleeps ``seconds`` on the server."""
    table = ExecutionRun._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("CREATE TABLE automate_test_slow (flag integer)")
            cursor.execute(
                "CREATE FUNCTION automate_test_slow() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
                f" IF EXISTS (SELECT 1 FROM automate_test_slow) THEN PERFORM pg_sleep({seconds}); END IF;"
                " RETURN NEW; END $$"
            )
            cursor.execute(
                f"CREATE TRIGGER automate_test_slow BEFORE INSERT ON {table}"
                " FOR EACH ROW EXECUTE FUNCTION automate_test_slow()"
            )
        else:  # MEMORY: InnoDB would lock the flag row read by the trigger until the worker's commit
            cursor.execute("CREATE TABLE automate_test_slow (flag integer) ENGINE=MEMORY")
            cursor.execute(
                f"CREATE TRIGGER automate_test_slow BEFORE INSERT ON {table} FOR EACH ROW BEGIN"
                f" IF (SELECT COUNT(*) FROM automate_test_slow) > 0 THEN SET @automate_slept = SLEEP({seconds});"
                " END IF; END"
            )
        cursor.execute("INSERT INTO automate_test_slow (flag) VALUES (1)")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM automate_test_slow")
            cursor.execute(
                f"DROP TRIGGER automate_test_slow{' ON ' + table if connection.vendor == 'postgresql' else ''}"
            )
            if connection.vendor == "postgresql":
                cursor.execute("DROP FUNCTION automate_test_slow()")
            cursor.execute("DROP TABLE automate_test_slow")


def stop_slowing_run_inserts() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM automate_test_slow")


def freeze_inside_a_transaction(worker: WorkerProcess, attempts: int = 60) -> tuple[set[int], float]:
    """SIGSTOP ``worker`` at random moments until the server shows it frozen inside a transaction.

    Returns the frozen sessions and the monotonic time of the stop that caught it.
    """
    for _ in range(attempts):
        time.sleep(random.uniform(0.001, 0.05))
        worker.send_signal(signal.SIGSTOP)
        stopped_at = time.monotonic()
        while time.monotonic() - stopped_at < 1.5:  # a statement in flight ends, then its session idles
            time.sleep(0.1)
            sessions = frozen_transactions()
            if sessions:
                return sessions, stopped_at
        worker.send_signal(signal.SIGCONT)
    raise AssertionError(f"never caught the worker inside a transaction in {attempts} tries\n{worker.output()[-3000:]}")


def test_a_worker_frozen_inside_its_transaction_is_taken_over_within_the_bound(
    workflow_factory, rule_factory, start_worker
):
    events = 120
    steps = [{"id": "note", "connector": "log", "action": "write", "with": {"message": "n={{ event.payload.n }}"}}]
    for n in range(5):  # several rules and workflows: routing spends its time inside its transaction
        workflow = workflow_factory(steps=steps, slug=f"wf-{n}")
        rule_factory(workflow, condition={">=": [{"var": "event.payload.n"}, n]})
    for n in range(events):
        django_automate.emit("order.created", {"n": n})

    with slow_run_inserts():
        frozen = start_worker(AUTOMATE_TEST_LEASE_SECONDS=str(LEASE))
        rescuer = start_worker(AUTOMATE_TEST_LEASE_SECONDS=str(LEASE))
        wait_ready(frozen, rescuer)
        frozen_sessions, frozen_at = freeze_inside_a_transaction(frozen)
        held = locked_jobs()
        assert held, "the frozen worker holds job rows locked"
        # On MariaDB this waits for inserts queued behind the frozen session's locks (their
        # triggers read the flag table), so at worst until the server ends that session.
        stop_slowing_run_inserts()
        run_the_rest(frozen, rescuer, frozen_sessions, frozen_at, held, events)


def run_the_rest(
    frozen: WorkerProcess,
    rescuer: WorkerProcess,
    frozen_sessions: set[int],
    frozen_at: float,
    held: set[int],
    events: int,
) -> None:
    wait_for(
        lambda: (
            not OutboxJob.objects.filter(id__in=held, status=JobStatus.CLAIMED, leased_by__contains=f":{frozen.pid}:")
            .exclude(lease_expires_at=None)
            .exists()
            and OutboxJob.objects.filter(id__in=held, status=JobStatus.DONE).count() == len(held)
        ),
        BOUND * 3,
        "the rescuer to finish the frozen worker's jobs",
        rescuer,
    )
    taken_over_after = time.monotonic() - frozen_at
    assert not sessions_alive(frozen_sessions), "the server ended the frozen session"
    assert taken_over_after <= BOUND, f"taken over after {taken_over_after:.1f} s, bound {BOUND:.1f} s"

    frozen.send_signal(signal.SIGCONT)  # it wakes up to a closed session and a lost lease
    wait_for(
        lambda: not OutboxJob.objects.exclude(status=JobStatus.DONE).exists(),
        120,
        "every job to be done",
        frozen,
        rescuer,
    )
    for worker in (frozen, rescuer):
        worker.send_signal(signal.SIGTERM)
    for worker in (frozen, rescuer):
        assert worker.exit_after_sigterm() == 0, worker.output()[-3000:]

    # Nothing the frozen worker had written before it froze survived; nothing ran twice.
    assert Event.objects.count() == events
    expected_runs = sum(min(n, 4) + 1 for n in range(events))  # rule k (workflow k) matches n >= k
    assert ExecutionRun.objects.count() == expected_runs
    assert set(ExecutionRun.objects.values_list("status", flat=True)) == {"succeeded"}
    print(f"taken over {taken_over_after:.2f} s after the freeze (lease {LEASE} s, bound {BOUND:.2f} s)")
