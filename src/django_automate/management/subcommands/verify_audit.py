"""``automate verify-audit``: check the audit log's chain (and checkpoints); report the first broken entry."""

from __future__ import annotations

import argparse
import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

HELP = (
    "Verify the audit log's hash chain, and that it still reaches every checkpoint; "
    "exit 1 and name the first broken entry if it does not hold."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default="default", help="Database alias holding the audit log.")
    parser.add_argument(
        "--checkpoint",
        action="append",
        default=[],
        metavar="FILE",
        help="File of checkpoints written by audit-checkpoint (repeatable; default: AUDIT_CHECKPOINT_FILE).",
    )


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate import conf
    from django_automate.audit import checkpoints
    from django_automate.audit.chain import verify

    files = list(options["checkpoint"])
    configured = conf.audit_checkpoint_file()
    if not files and configured and os.path.exists(configured):
        files = [configured]
    try:
        known = [checkpoint for path in files for checkpoint in checkpoints.read(path)]
    except checkpoints.CheckpointInvalid as exc:
        raise CommandError(exc.message) from exc
    result = verify(using=options["database"], checkpoints=known)
    if not result.ok:
        raise CommandError(str(result))
    lines = [str(result)]
    if result.signed:
        ids = ", ".join(f"{key_id} ({count})" for key_id, count in result.signed.items())
        lines.append(f"Signed with AUDIT_KEYS: {sum(result.signed.values())} entries, by key id {ids}.")
    if result.unkeyed:
        lines.append(
            f"Unkeyed: {result.unkeyed} entries" + (" (written before AUDIT_KEYS was set)." if result.signed else ".")
        )
    if not conf.audit_keys():
        lines.append(
            "Warning: AUDIT_KEYS is not set, so the chain is unkeyed: tamper-evidence against the database "
            "role requires AUDIT_KEYS (automate.W045)."
        )
    if files:
        lines.append(f"Checkpoints: {result.checkpoints} of {len(known)} matched ({', '.join(files)}).")
    else:
        lines.append(
            "No checkpoint given: entries deleted from the end, or all of them, are detected only "
            "against a checkpoint (--checkpoint FILE or AUDIT_CHECKPOINT_FILE)."
        )
    command.stdout.write("\n".join(lines))
