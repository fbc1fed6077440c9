"""Subcommands of ``manage.py automate``; each module has HELP, add_arguments() and handle()."""

from __future__ import annotations

from types import ModuleType

from django_automate.management.subcommands import demo, worker

REGISTRY: dict[str, ModuleType] = {"worker": worker, "demo": demo}
