"""The Django admin as the control plane: one module per model group, actions call the services."""

from __future__ import annotations

from django_automate.admin import (  # noqa: F401  (registers ModelAdmins)
    audit,
    backfill,
    dashboard,
    events,
    governance,
    runs,
    tasks,
    workflows,
)
