"""The admin dashboard's figures (SPEC §16): rollups of closed time buckets plus live counts of the open one."""

from __future__ import annotations

from django_automate.observability.dashboard.figures import DashboardFigures, WorkflowFigures, build
from django_automate.observability.dashboard.windows import WINDOWS, Window, parse_window

__all__ = ["WINDOWS", "DashboardFigures", "Window", "WorkflowFigures", "build", "parse_window"]
