"""``automate audit-checkpoint``: write the audit chain's newest (seq, hash) outside the database."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

HELP = (
    "Print a signed checkpoint (seq, hash, count, time, key id, HMAC) of the audit chain as one JSON line, "
    "or append it to --file / AUDIT_CHECKPOINT_FILE; keep it where the database role cannot write."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database", default="default", help="Database alias holding the audit log.")
    parser.add_argument("--file", help="Append the line to this file (default: AUDIT_CHECKPOINT_FILE, else stdout).")
    parser.add_argument(
        "--print", action="store_true", dest="print_only", help="Print the line even when a file is configured."
    )


def handle(command: BaseCommand, **options: Any) -> None:
    from django_automate import conf
    from django_automate.audit import checkpoints

    checkpoint = checkpoints.current(options["database"])
    path = None if options["print_only"] else options["file"] or conf.audit_checkpoint_file()
    if path is None:
        command.stdout.write(checkpoint.to_line())
        return
    try:
        checkpoints.append(path, checkpoint)
    except OSError as exc:
        raise CommandError(f"Cannot append the checkpoint to {path!r}: {exc.strerror}.") from exc
    command.stdout.write(f"Checkpoint of entry #{checkpoint.seq} appended to {path}.")
