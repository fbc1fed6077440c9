"""Checkpoints: the chain's newest ``(seq, hash)`` written outside the database, one JSON line each.

A hash chain cannot notice entries deleted from its end, or all of them: what is left is
still a valid chain. A checkpoint kept where the database role cannot reach (a file
shipped to append-only storage, a log collector, a ticket) records how far the chain went
and what its hash was then; ``verify-audit --checkpoint FILE`` fails if the chain no longer
reaches a checkpoint or carries a different hash there. With ``AUDIT_KEYS`` each line is
signed (HMAC with the first key), so a line cannot be forged without the key.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

from django_automate import conf, exceptions
from django_automate.audit import keys
from django_automate.internal.jsonutil import canonical_json
from django_automate.models import AuditEntry
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)


class CheckpointInvalid(exceptions.AutomateError):
    """An audit checkpoint cannot be read or is not authentic."""

    code = "audit_checkpoint_invalid"


@dataclass(frozen=True)
class Checkpoint:
    """How far the chain reached (``seq``, ``count`` entries) and its hash there, at ``time``."""

    seq: int
    hash: str
    count: int
    time: str
    key_id: str = ""
    mac: str = ""

    def signed_fields(self) -> dict[str, Any]:
        return {"seq": self.seq, "hash": self.hash, "count": self.count, "time": self.time, "key_id": self.key_id}

    def to_line(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def make(seq: int, hash: str, *, count: int | None = None) -> Checkpoint:
    """A checkpoint of the chain at ``seq``, signed with the first of ``AUDIT_KEYS`` when there is one."""
    unsigned = Checkpoint(seq, hash, seq if count is None else count, timezone.now().isoformat())
    key = keys.signing_key()
    if key is None:
        return unsigned
    fields = {**unsigned.signed_fields(), "key_id": key.id}
    return Checkpoint(**fields, mac=key.sign(canonical_json(fields)))


def current(using: str = "default") -> Checkpoint:
    """A checkpoint of the newest stored entry (``seq`` 0 and 64 zeros for an empty log)."""
    from django_automate.audit.chain import GENESIS

    newest = AuditEntry.objects.using(using).order_by("-seq").only("seq", "hash").first()
    if newest is None:
        return make(0, GENESIS, count=0)
    return make(newest.seq, newest.hash, count=AuditEntry.objects.using(using).count())


def append(path: str | os.PathLike[str], checkpoint: Checkpoint) -> None:
    """Append one line and flush it to disk (one ``write`` on an ``O_APPEND`` file: lines never interleave)."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, (checkpoint.to_line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def parse(text: str, *, source: str = "checkpoint file") -> list[Checkpoint]:
    """The checkpoints of a file's text; :class:`CheckpointInvalid` names the first line that is not authentic."""
    known = keys.by_id()
    found: list[Checkpoint] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            checkpoint = Checkpoint(
                seq=int(raw["seq"]),
                hash=str(raw["hash"]),
                count=int(raw["count"]),
                time=str(raw["time"]),
                key_id=str(raw.get("key_id") or ""),
                mac=str(raw.get("mac") or ""),
            )
        except (ValueError, TypeError, KeyError, OverflowError, RecursionError) as exc:
            # OverflowError: an infinite number (1e999); RecursionError: nesting json cannot parse.
            raise CheckpointInvalid(f"{source}, line {number}: not a checkpoint ({exc}).") from exc
        if not checkpoint.key_id and any(earlier.key_id for earlier in found):
            # As in the chain: once checkpoints are signed, an unsigned one after them is inserted.
            raise CheckpointInvalid(f"{source}, line {number}: unsigned, after signed checkpoints (forged).")
        if checkpoint.key_id:
            key = known.get(checkpoint.key_id)
            if key is None:
                raise CheckpointInvalid(
                    f"{source}, line {number}: signed with key id {checkpoint.key_id}, which is not in AUDIT_KEYS."
                )
            if key.sign(canonical_json(checkpoint.signed_fields())) != checkpoint.mac:
                raise CheckpointInvalid(f"{source}, line {number}: the signature does not match (forged or edited).")
        found.append(checkpoint)
    return found


def read(path: str | os.PathLike[str]) -> list[Checkpoint]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckpointInvalid(f"Cannot read the checkpoint file {os.fspath(path)!r}: {exc.strerror}.") from exc
    except UnicodeDecodeError as exc:
        raise CheckpointInvalid(f"The checkpoint file {os.fspath(path)!r} is not UTF-8 text.") from exc
    return parse(text, source=os.fspath(path))


def after_append(entry: AuditEntry) -> None:
    """Append a checkpoint of ``entry`` to ``AUDIT_CHECKPOINT_FILE`` every ``AUDIT_CHECKPOINT_EVERY`` entries.

    Called once the entry's transaction committed; a file that cannot be written is logged,
    never raised (the entry itself is recorded).
    """
    path, every = conf.audit_checkpoint_file(), conf.audit_checkpoint_every()
    if not path or every <= 0 or entry.seq % every:
        return
    try:
        append(path, make(entry.seq, entry.hash))
    except OSError:
        logger.exception(
            "Could not append an audit checkpoint to %s",
            path,
            extra=log_extra(action="audit_checkpoint", seq=entry.seq),
        )
