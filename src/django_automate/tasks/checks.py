"""System checks of the Tasks settings (ids ``automate.E095`` and ``E096``); no Tasks framework needed."""

from __future__ import annotations

from typing import Any

from django.core.checks import CheckMessage, Error

from django_automate import conf


def task_setting_messages(user: dict[str, Any]) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    allowed = user.get("TASKS_ALLOWED", conf.DEFAULTS["TASKS_ALLOWED"])
    if not isinstance(allowed, (list, tuple)) or not all(isinstance(entry, str) and entry for entry in allowed):
        errors.append(
            Error(
                "AUTOMATE['TASKS_ALLOWED'] must be a list of task import paths or prefixes ending in '.*'.",
                hint='e.g. ["myapp.tasks.send_welcome", "billing.tasks.*"]; see docs/tasks.md.',
                id="automate.E095",
            )
        )
    limit = user.get("TASK_MAX_RESULT_BYTES", conf.DEFAULTS["TASK_MAX_RESULT_BYTES"])
    if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
        errors.append(Error("AUTOMATE['TASK_MAX_RESULT_BYTES'] must be a positive integer.", id="automate.E096"))
    return errors
