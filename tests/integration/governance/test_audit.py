"""The audit log: one unforked hash chain under concurrent writers, append-only at the database."""

from __future__ import annotations

import io
import threading

import pytest
from django.core.checks import Tags, run_checks
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction

from django_automate.audit import guard
from django_automate.audit import log as audit
from django_automate.audit.chain import verify
from django_automate.models import AuditEntry
from django_automate.policy import masking

VENDOR = connection.vendor
TABLE = connection.ops.quote_name("automate_auditentry")
# What each backend can refuse (MySQL cannot attach a trigger to TRUNCATE; SQLite has no TRUNCATE).
REJECTED = {
    "postgresql": {
        "update": f"UPDATE {TABLE} SET actor = 'mallory'",
        "delete": f"DELETE FROM {TABLE}",
        "truncate": f"TRUNCATE {TABLE}",
    },
    "mysql": {"update": f"UPDATE {TABLE} SET actor = 'mallory'", "delete": f"DELETE FROM {TABLE}"},
    "sqlite": {"update": f"UPDATE {TABLE} SET actor = 'mallory'", "delete": f"DELETE FROM {TABLE}"},
}[VENDOR]


def write_entries(writers: int, per_writer: int) -> None:
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                audit.record("rule.updated", actor=f"writer-{n}", object_id=str(i), data={"i": i})
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_never_fork_the_chain(fast_commits):
    writers, per_writer = (4, 50) if VENDOR == "sqlite" else (8, 500)
    write_entries(writers, per_writer)
    total = writers * per_writer
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == list(range(1, total + 1))
    result = verify()
    assert (result.ok, result.checked) == (True, total)


@pytest.mark.django_db
@pytest.mark.parametrize("statement", sorted(REJECTED))
def test_the_database_rejects_changes_to_recorded_entries(statement):
    entry = audit.record("workflow.published", actor="alice", data={"version": 1})
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(REJECTED[statement])
    assert AuditEntry.objects.get().actor == "alice"
    assert verify().ok and entry.pk


@pytest.mark.django_db
def test_orm_updates_and_deletes_are_rejected_too():
    audit.record("workflow.published", actor="alice")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.update(actor="mallory")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.values_list("actor", flat=True).get() == "alice"


def tamper(sql: str) -> None:
    """What a superuser can do: lift the triggers, edit a row, put the triggers back."""
    with connection.cursor() as cursor:
        if VENDOR == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            cursor.execute(sql)
            cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
            return
        for name in guard.trigger_names(connection):
            cursor.execute(f"DROP TRIGGER {name}")
        cursor.execute(sql)
    assert guard.reinstall() == ["automate_auditentry_no_delete", "automate_auditentry_no_update"]


@pytest.mark.django_db(transaction=True)
def test_an_entry_edited_behind_the_triggers_is_reported_at_that_entry():
    for i in range(6):
        audit.record("rule.updated", actor="alice", data={"i": i})
    target = AuditEntry.objects.get(seq=4)
    tamper(f"UPDATE {TABLE} SET data = '{{\"i\": 99}}' WHERE seq = 4")
    result = verify()
    assert (result.ok, result.seq, result.entry_id, result.checked) == (False, 4, str(target.pk), 3)
    with pytest.raises(CommandError, match=f"broken at entry #4 \\(id {target.pk}\\)"):
        call_command("automate", "verify-audit", stdout=io.StringIO())
    with pytest.raises(DatabaseError), transaction.atomic():  # the triggers are back in force
        AuditEntry.objects.update(actor="mallory")


@pytest.mark.django_db(transaction=True)
def test_a_deleted_entry_is_reported_where_the_gap_is():
    for i in range(4):
        audit.record("rule.updated", data={"i": i})
    tamper(f"DELETE FROM {TABLE} WHERE seq = 2")
    result = verify()
    assert (result.ok, result.seq) == (False, 3)


@pytest.mark.django_db(transaction=True)
def test_verify_audit_command_confirms_an_intact_chain():
    for i in range(3):
        audit.record("rule.updated", data={"i": i})
    out = io.StringIO()
    call_command("automate", "verify-audit", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[:2] == ["Audit chain intact: 3 entries verified.", "Unkeyed: 3 entries."]
    assert "AUDIT_KEYS is not set" in lines[2]


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_log_and_leaves_the_triggers_in_force():
    audit.record("rule.updated")
    before = guard.trigger_names(connection)
    call_command("flush", interactive=False, verbosity=0)
    assert AuditEntry.objects.count() == 0
    assert guard.trigger_names(connection) == before != []
    audit.record("rule.updated")
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEntry.objects.update(actor="mallory")


@pytest.mark.django_db(transaction=True)
def test_missing_triggers_are_reported_by_the_database_check():
    def warnings() -> list[str]:
        return [m.id for m in run_checks(tags=[Tags.database], databases=["default"]) if m.id == "automate.W041"]

    assert warnings() == []
    with connection.cursor() as cursor:
        for name in guard.trigger_names(connection):
            cursor.execute(f"DROP TRIGGER {name}" + (f" ON {TABLE}" if VENDOR == "postgresql" else ""))
    assert warnings() == ["automate.W041"]
    guard.reinstall()
    assert warnings() == []


@pytest.mark.django_db(transaction=True)
def test_an_entry_commits_or_rolls_back_with_the_change_it_records():
    audit.record("rule.created")
    with pytest.raises(RuntimeError), transaction.atomic():
        audit.record("rule.updated")
        raise RuntimeError("the change failed")
    audit.record("rule.deleted")
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", "action")) == [
        (1, "rule.created"),
        (2, "rule.deleted"),
    ]
    assert verify().ok


@pytest.mark.django_db
def test_data_is_redacted_by_key_and_masked_of_resolved_secrets():
    with masking.scope({"resolved-s3cret"}):
        entry = audit.record(
            "endpoint.updated", data={"secrets": ["$secret:HOOK"], "note": "was resolved-s3cret", "url": "https://x"}
        )
    entry.refresh_from_db()
    assert entry.data == {"secrets": "[REDACTED]", "note": "was [REDACTED]", "url": "https://x"}
    assert verify().ok
