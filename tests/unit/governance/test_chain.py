"""The audit hash chain: what it covers and how verification points at the first broken entry."""

from __future__ import annotations

import datetime as dt
import uuid

from django_automate.audit.chain import GENESIS, content, entry_hash, normalize, verify_entries
from django_automate.models import AuditEntry


def chain(n: int) -> list[AuditEntry]:
    entries, prev = [], GENESIS
    for seq in range(1, n + 1):
        entry = AuditEntry(
            id=uuid.uuid4(),
            seq=seq,
            action="rule.updated",
            actor="alice",
            object_type="rule",
            object_id=str(seq),
            tenant="",
            trace_id="",
            data={"n": seq, "ratio": 0.5},
            created_at=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(seconds=seq),
            prev_hash=prev,
        )
        entry.hash = prev = entry_hash(prev, content(entry))
        entries.append(entry)
    return entries


def test_an_intact_chain_verifies():
    result = verify_entries(chain(5))
    assert result.ok and result.checked == 5
    assert str(result) == "Audit chain intact: 5 entries verified."


def test_changing_any_recorded_field_is_reported_at_that_entry():
    for field, value in [("data", {"n": 99}), ("actor", "mallory"), ("action", "x"), ("tenant", "t")]:
        entries = chain(5)
        setattr(entries[2], field, value)
        result = verify_entries(entries)
        assert (result.ok, result.seq, result.checked) == (False, 3, 2), field
        assert "modified" in result.reason


def test_a_removed_entry_is_reported_where_the_gap_is():
    entries = chain(5)
    del entries[1]
    result = verify_entries(entries)
    assert (result.ok, result.seq) == (False, 3)
    assert "missing" in result.reason


def test_an_entry_rehashed_after_editing_breaks_the_link_of_the_next_one():
    entries = chain(4)
    entries[1].data = {"n": 0}
    entries[1].hash = entry_hash(entries[1].prev_hash, content(entries[1]))
    result = verify_entries(entries)
    assert (result.ok, result.seq) == (False, 3)
    assert "prev_hash" in result.reason


def test_normalised_json_survives_every_backends_round_trip():
    assert normalize({"a": 1e20, 2: (1.5, float("inf")), "b": True}) == {
        "a": 10**20,
        "2": [1.5, "inf"],
        "b": True,
    }
