"""A complete, safe and fast JSON Logic engine.

Rules compile once into Python closures (:func:`compile_logic`); :func:`evaluate` caches them.
Evaluation is pure: lookups only index dicts and lists, nothing is imported, printed or
executed, and depth, size and work are bounded (:class:`Limits`). See ``docs/rules.md``.
"""

from __future__ import annotations

from django_automate.rules.jsonlogic.api import evaluate, explain, validate_logic
from django_automate.rules.jsonlogic.coercion import truthy
from django_automate.rules.jsonlogic.compiler import compile_logic
from django_automate.rules.jsonlogic.errors import (
    JsonLogicError,
    JsonLogicEvaluationError,
    JsonLogicLimitExceeded,
    JsonLogicValidationError,
)
from django_automate.rules.jsonlogic.limits import DEFAULT_LIMITS, Limits
from django_automate.rules.jsonlogic.operators import OPERATORS

__all__ = [
    "DEFAULT_LIMITS",
    "OPERATORS",
    "JsonLogicError",
    "JsonLogicEvaluationError",
    "JsonLogicLimitExceeded",
    "JsonLogicValidationError",
    "Limits",
    "compile_logic",
    "evaluate",
    "explain",
    "truthy",
    "validate_logic",
]
