"""Subcommands of ``manage.py automate``; each module has HELP, add_arguments() and handle()."""

from __future__ import annotations

from typing import Any

from django_automate.management.subcommands import (
    audit_checkpoint,
    demo,
    operations,
    prune,
    rotate_keys,
    scheduler,
    token,
    trace,
    verify_audit,
    worker,
)

REGISTRY: dict[str, Any] = {
    "worker": worker,
    "demo": demo,
    "replay": operations.Replay,
    "retry": operations.Retry,
    "cancel": operations.Cancel,
    "prune-events": prune,
    "scheduler": scheduler,
    "rotate-keys": rotate_keys,
    "verify-audit": verify_audit,
    "audit-checkpoint": audit_checkpoint,
    "token": token,
    "trace": trace,
}
