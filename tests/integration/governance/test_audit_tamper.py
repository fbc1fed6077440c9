"""Tampering with the audit table by a privileged database role, and ``verify-audit`` catching it.

Each test edits ``automate_auditentry`` with raw SQL the way a role that owns the table
could: the append-only triggers are disabled (PostgreSQL) or dropped (MySQL, SQLite) first
and put back afterwards. ``verify-audit`` must exit non-zero naming the first bad entry.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.checks import run_checks
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from django_automate.audit import guard, keys
from django_automate.audit import log as audit
from django_automate.audit.chain import content, entry_hash
from django_automate.models import AuditEntry

VENDOR = connection.vendor
TABLE = connection.ops.quote_name("automate_auditentry")
KEY = "k1-" + "a" * 40
OLD_KEY = "k0-" + "b" * 40
WRONG_KEY = "attacker-" + "c" * 40

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def audit_keys(settings: Any) -> Callable[..., None]:
    def configure(*secrets: str) -> None:
        settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_KEYS": list(secrets)}

    configure(KEY)
    return configure


def record(n: int) -> None:
    for i in range(n):
        audit.record("rule.updated", actor="alice", object_type="rule", object_id=str(i), data={"i": i})


def verify_audit(*args: str) -> str:
    out = io.StringIO()
    call_command("automate", "verify-audit", *args, stdout=out)
    return out.getvalue()


def broken(*args: str) -> str:
    with pytest.raises(CommandError) as info:
        verify_audit(*args)
    return str(info.value)


def checkpoint(path: Path) -> None:
    call_command("automate", "audit-checkpoint", "--file", str(path), stdout=io.StringIO())


@contextlib.contextmanager
def behind_the_triggers() -> Iterator[Any]:
    """A cursor of the table owner with the append-only triggers out of the way, put back afterwards."""
    with connection.cursor() as cursor:
        if VENDOR == "postgresql":
            cursor.execute(f"ALTER TABLE {TABLE} DISABLE TRIGGER USER")
            try:
                yield cursor
            finally:
                cursor.execute(f"ALTER TABLE {TABLE} ENABLE TRIGGER USER")
            return
        for name in guard.trigger_names(connection):
            cursor.execute(f"DROP TRIGGER {name}")
        try:
            yield cursor
        finally:
            guard.reinstall()


def db_values(entry: AuditEntry, *names: str) -> list[Any]:
    """Column values as the driver takes them (UUID, JSON, datetimes), as a hand-written statement would send."""
    fields = [AuditEntry._meta.get_field(name) for name in names]
    return [f.get_db_prep_save(getattr(entry, f.attname), connection) for f in fields]


def update(cursor: Any, entry: AuditEntry, *names: str) -> None:
    columns = ", ".join(f"{connection.ops.quote_name(n)} = %s" for n in names)
    cursor.execute(f"UPDATE {TABLE} SET {columns} WHERE seq = %s", [*db_values(entry, *names), entry.seq])


INSERT_COLUMNS = (
    "id",
    "seq",
    "tenant",
    "action",
    "actor",
    "object_type",
    "object_id",
    "trace_id",
    "data",
    "prev_hash",
    "hash",
    "key_id",
    "created_at",
)


def insert(cursor: Any, entry: AuditEntry) -> None:
    columns = ", ".join(connection.ops.quote_name(n) for n in INSERT_COLUMNS)
    marks = ", ".join(["%s"] * len(INSERT_COLUMNS))
    cursor.execute(f"INSERT INTO {TABLE} ({columns}) VALUES ({marks})", db_values(entry, *INSERT_COLUMNS))


def forge(entry: AuditEntry, signer: str | None, key_id: str | None = None) -> None:
    """Recompute an entry's hash the way an attacker who knows the algorithm would (unkeyed, or with ``signer``)."""
    key = keys.AuditKey(key_id or keys.key_id(signer.encode()), signer.encode()) if signer else None
    entry.key_id = key.id if key else ""
    entry.hash = entry_hash(entry.prev_hash, content(entry), key)


def test_a_deleted_middle_entry_is_reported_where_the_gap_is(audit_keys):
    record(6)
    with behind_the_triggers() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq = 3")
    message = broken()
    assert "broken at entry #4" in message and "expected seq 3; entries are missing" in message


def test_deleting_the_newest_entries_is_detected_against_a_checkpoint(audit_keys, tmp_path):
    record(5)
    checkpoint(tmp_path / "audit.checkpoints")
    with behind_the_triggers() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq >= 4")
    assert verify_audit().startswith("Audit chain intact: 3 entries")  # a chain alone cannot tell
    message = broken("--checkpoint", str(tmp_path / "audit.checkpoints"))
    assert "broken at entry #4: missing" in message
    assert "records 5 entries up to entry #5, but the log ends at entry #3" in message


def test_emptying_the_table_is_detected_against_a_checkpoint(audit_keys, tmp_path):
    record(4)
    checkpoint(tmp_path / "audit.checkpoints")
    with behind_the_triggers() as cursor:
        # MySQL fires no trigger on TRUNCATE and SQLite has none: there, DELETE without WHERE.
        cursor.execute(f"TRUNCATE {TABLE}" if VENDOR != "sqlite" else f"DELETE FROM {TABLE}")
    assert AuditEntry.objects.count() == 0
    message = broken("--checkpoint", str(tmp_path / "audit.checkpoints"))
    assert "broken at entry #1: missing" in message and "but the log is empty" in message


@pytest.mark.parametrize(
    ("signer", "key_id", "reason"),
    [
        (None, None, "unkeyed entry after entries signed with AUDIT_KEYS"),
        (WRONG_KEY, keys.key_id(KEY.encode()), "the stored HMAC does not match"),
        (WRONG_KEY, None, "which is not in AUDIT_KEYS"),
    ],
    ids=["unkeyed-sha256", "hmac-wrong-key-real-key-id", "hmac-own-key"],
)
def test_an_entry_rewritten_with_every_later_hash_recomputed_is_reported_at_that_entry(
    audit_keys, signer, key_id, reason
):
    record(6)
    entries = list(AuditEntry.objects.order_by("seq"))
    entries[2].data = {"i": 99}
    with behind_the_triggers() as cursor:
        for previous, entry in itertools.pairwise(entries[1:]):
            entry.prev_hash = previous.hash
            forge(entry, signer, key_id)
            update(cursor, entry, "data", "prev_hash", "hash", "key_id")
    message = broken()
    assert f"broken at entry #3 (id {entries[2].pk})" in message and reason in message


def test_an_unkeyed_chain_rewritten_from_the_start_is_caught_by_its_checkpoint(tmp_path):
    record(4)
    checkpoint(tmp_path / "audit.checkpoints")
    entries = list(AuditEntry.objects.order_by("seq"))
    entries[1].actor = "mallory"
    with behind_the_triggers() as cursor:
        for previous, entry in itertools.pairwise(entries):
            entry.prev_hash = previous.hash
            forge(entry, None)
            update(cursor, entry, "actor", "prev_hash", "hash")
    assert verify_audit().startswith("Audit chain intact")  # without a key, only the checkpoint knows
    message = broken("--checkpoint", str(tmp_path / "audit.checkpoints"))
    assert "broken at entry #4" in message and "differs from the checkpoint" in message


@contextlib.contextmanager
def insert_only_role() -> Iterator[Any]:
    """PostgreSQL: a role granted INSERT on the table and nothing else; elsewhere the application's own connection."""
    with connection.cursor() as cursor:
        if VENDOR != "postgresql":
            yield cursor
            return
        role = connection.ops.quote_name(f"automate_forger_{uuid.uuid4().hex[:8]}")
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT INSERT ON {TABLE} TO {role}")
        try:
            cursor.execute(f"SET ROLE {role}")
            yield cursor
        finally:
            cursor.execute("RESET ROLE")
            cursor.execute(f"REVOKE ALL ON {TABLE} FROM {role}")
            cursor.execute(f"DROP ROLE {role}")


@pytest.mark.parametrize(
    ("signer", "reason"),
    [(None, "unkeyed entry after entries signed"), (WRONG_KEY, "the stored HMAC does not match")],
    ids=["unkeyed-sha256", "hmac-wrong-key"],
)
def test_an_entry_appended_by_an_insert_only_role_is_reported_as_forged(audit_keys, signer, reason):
    record(3)
    last = AuditEntry.objects.order_by("-seq").first()
    assert last is not None
    forged = AuditEntry(
        id=uuid.uuid4(),
        seq=4,
        action="secret.rotated",
        actor="alice",
        object_type="secret",
        object_id="STRIPE",
        data={"note": "routine"},
        created_at=timezone.now(),
        prev_hash=last.hash,
    )
    forge(forged, signer, keys.key_id(KEY.encode()))
    with insert_only_role() as cursor:
        insert(cursor, forged)
    assert AuditEntry.objects.count() == 4
    message = broken()
    assert f"broken at entry #4 (id {forged.pk})" in message and reason in message


def test_a_changed_field_is_reported_at_that_entry(audit_keys):
    record(5)
    with behind_the_triggers() as cursor:
        cursor.execute(f"UPDATE {TABLE} SET actor = 'mallory' WHERE seq = 3")
    message = broken()
    assert "broken at entry #3" in message and "the stored HMAC does not match" in message


def test_a_changed_timestamp_is_reported_at_that_entry(audit_keys):
    record(5)
    entry = AuditEntry.objects.get(seq=2)
    entry.created_at -= dt.timedelta(days=30)
    with behind_the_triggers() as cursor:
        update(cursor, entry, "created_at")
    assert AuditEntry.objects.get(seq=2).created_at == entry.created_at
    message = broken()
    assert "broken at entry #2" in message and "the stored HMAC does not match" in message


@pytest.fixture
def _postgres_only() -> None:
    if VENDOR != "postgresql":
        pytest.skip("session_replication_role is PostgreSQL's: runs with AUTOMATE_TEST_DB=postgres")


@pytest.mark.postgres
@pytest.mark.usefixtures("_postgres_only")
def test_a_change_made_with_replication_role_replica_is_reported(audit_keys):
    """``replica`` skips ordinary triggers without touching them: the guard does not fire, the chain still tells."""
    record(5)
    with connection.cursor() as cursor:
        cursor.execute("SET session_replication_role = replica")
        try:
            cursor.execute(f"UPDATE {TABLE} SET data = %s WHERE seq = 3", [json.dumps({"i": 42})])
        finally:
            cursor.execute("RESET session_replication_role")
    assert AuditEntry.objects.get(seq=3).data == {"i": 42}
    message = broken()
    assert "broken at entry #3" in message and "the stored HMAC does not match" in message


def test_entries_keep_verifying_after_a_new_key_is_put_first(audit_keys):
    audit_keys(OLD_KEY)
    record(3)
    audit_keys(KEY, OLD_KEY)
    record(2)
    old_id, new_id = keys.key_id(OLD_KEY.encode()), keys.key_id(KEY.encode())
    assert list(AuditEntry.objects.order_by("seq").values_list("key_id", flat=True)) == [old_id] * 3 + [new_id] * 2
    out = verify_audit()
    assert out.startswith("Audit chain intact: 5 entries verified.")
    assert f"by key id {old_id} (3), {new_id} (2)" in out
    audit_keys(KEY)  # the old key dropped too early
    message = broken()
    assert "broken at entry #1" in message and f"key id {old_id}, which is not in AUDIT_KEYS" in message


def test_entries_written_before_keys_were_configured_verify_as_unkeyed(audit_keys, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_KEYS": []}
    record(2)
    out = verify_audit()
    assert "Unkeyed: 2 entries." in out and "AUDIT_KEYS is not set" in out
    audit_keys(KEY)
    record(3)
    out = verify_audit()
    assert out.startswith("Audit chain intact: 5 entries verified.")
    assert "Unkeyed: 2 entries (written before AUDIT_KEYS was set)." in out
    assert "AUDIT_KEYS is not set" not in out


def test_the_writer_appends_a_signed_checkpoint_every_n_entries(audit_keys, settings, tmp_path):
    path = tmp_path / "audit.checkpoints"
    settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_CHECKPOINT_FILE": str(path), "AUDIT_CHECKPOINT_EVERY": 2}
    record(5)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    key_id = keys.key_id(KEY.encode())
    assert [(c["seq"], c["count"], c["key_id"]) for c in lines] == [(2, 2, key_id), (4, 4, key_id)]
    assert lines[1]["hash"] == AuditEntry.objects.get(seq=4).hash and len(lines[1]["mac"]) == 64
    assert "Checkpoints: 2 of 2 matched" in verify_audit()  # AUDIT_CHECKPOINT_FILE is read by default
    with behind_the_triggers() as cursor:
        cursor.execute(f"DELETE FROM {TABLE} WHERE seq >= 3")
    assert "broken at entry #3: missing" in broken()


def test_an_edited_checkpoint_line_is_rejected(audit_keys, tmp_path):
    record(3)
    path = tmp_path / "audit.checkpoints"
    checkpoint(path)
    line = json.loads(path.read_text())
    path.write_text(json.dumps({**line, "seq": 2, "count": 2}) + "\n")
    message = broken("--checkpoint", str(path))
    assert "line 1: the signature does not match" in message


def test_audit_checkpoint_prints_one_json_line_without_a_file(audit_keys):
    record(2)
    out = io.StringIO()
    call_command("automate", "audit-checkpoint", stdout=out)
    line = json.loads(out.getvalue())
    assert (line["seq"], line["count"], line["hash"]) == (2, 2, AuditEntry.objects.get(seq=2).hash)


def test_the_system_check_says_tamper_evidence_needs_audit_keys(audit_keys, settings):
    def ids() -> list[str]:
        found = run_checks() + run_checks(include_deployment_checks=True)
        return sorted({m.id for m in found if m.id in ("automate.W045", "automate.E045")})

    assert ids() == []
    settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_KEYS": []}
    assert ids() == ["automate.W045"]
    assert "automate.W045" not in {m.id for m in run_checks()}  # --deploy only: not on every command
    settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_KEYS": ["short"]}
    assert ids() == ["automate.E045"]
