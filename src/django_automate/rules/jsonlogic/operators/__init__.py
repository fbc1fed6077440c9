"""Operator implementations, registered by name in :data:`OPERATORS` when imported."""

from __future__ import annotations

from django_automate.rules.jsonlogic.operators import arithmetic, arrays, compare, control, data, logic, strings
from django_automate.rules.jsonlogic.operators.registry import OPERATORS, operator

__all__ = ["OPERATORS", "arithmetic", "arrays", "compare", "control", "data", "logic", "operator", "strings"]
