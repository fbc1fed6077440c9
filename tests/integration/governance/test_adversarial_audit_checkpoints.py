"""Hostile or damaged checkpoint files, and unwritable checkpoint paths, end the audit commands cleanly.

``verify-audit --checkpoint FILE`` and ``audit-checkpoint --file PATH`` take their input from
outside the database; whatever that input is, each command stops with an error naming the
file (exit 1), never with a traceback.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from django_automate.audit import log as audit

pytestmark = pytest.mark.django_db

#: Lines a checkpoint file may hold after damage or tampering, none of them a checkpoint.
BAD_LINES = {
    "infinite seq": b'{"seq": 1e999, "hash": "x", "count": 1, "time": "t"}',
    "infinite count": b'{"seq": 1, "hash": "x", "count": -1e999, "time": "t"}',
    "deep nesting": b"[" * 100_000,
    "not utf-8": b'{"seq": 1, "hash": "\xed\xa0\x80", "count": 1, "time": "t"}',
}


def automate(*args: str) -> str:
    out = io.StringIO()
    call_command("automate", *args, stdout=out, stderr=out)
    return out.getvalue()


@pytest.mark.parametrize("line", BAD_LINES.values(), ids=BAD_LINES.keys())
def test_verify_audit_refuses_a_checkpoint_line_that_is_not_a_checkpoint(tmp_path: Path, line: bytes) -> None:
    audit.record("test.entry", actor="tester")
    path = tmp_path / "audit.checkpoints"
    path.write_bytes(line + b"\n")
    with pytest.raises(CommandError) as raised:
        automate("verify-audit", "--checkpoint", str(path))
    assert str(path) in str(raised.value)


@pytest.mark.parametrize("where", ["directory", "missing directory"])
def test_audit_checkpoint_reports_a_file_it_cannot_write(tmp_path: Path, where: str) -> None:
    audit.record("test.entry", actor="tester")
    path = tmp_path if where == "directory" else tmp_path / "missing" / "audit.checkpoints"
    with pytest.raises(CommandError) as raised:
        automate("audit-checkpoint", "--file", str(path))
    assert str(path) in str(raised.value)


def test_an_unsigned_checkpoint_after_signed_ones_is_refused(settings, tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    settings.AUTOMATE = {**settings.AUTOMATE, "AUDIT_KEYS": [Fernet.generate_key().decode()]}
    audit.record("test.entry", actor="tester")
    path = tmp_path / "audit.checkpoints"
    automate("audit-checkpoint", "--file", str(path))
    assert "intact" in automate("verify-audit", "--checkpoint", str(path)).lower()
    line = json.loads(path.read_text().splitlines()[-1])
    assert line.pop("key_id") and line.pop("mac")  # the writer signs; the forger cannot
    line["seq"] = line["seq"] + 1000  # a checkpoint far ahead: a false alarm at best
    with path.open("a") as file:
        file.write(json.dumps(line) + "\n")
    with pytest.raises(CommandError) as raised:
        automate("verify-audit", "--checkpoint", str(path))
    assert "unsigned, after signed checkpoints" in str(raised.value)


@pytest.mark.parametrize("subcommand", ["verify-audit", "audit-checkpoint", "prune-events", "worker"])
def test_an_unknown_database_alias_is_a_command_error(subcommand: str) -> None:
    with pytest.raises(CommandError, match="Unknown database alias 'nope'"):
        automate(subcommand, "--database", "nope")
