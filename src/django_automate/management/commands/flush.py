"""Django's ``flush``, allowed to empty the append-only audit log along with everything else.

The audit table's triggers reject DELETE and TRUNCATE; a flush is a reset of the whole
database (Django's test framework runs one after each transactional test), so it lifts
them for its own connection only, inside its own transaction where the backend allows.
"""

from __future__ import annotations

from typing import Any

from django.core.management.commands import flush

from django_automate.audit import guard


class Command(flush.Command):
    def handle(self, **options: Any) -> None:
        with guard.suspended(options["database"]):
            super().handle(**options)
