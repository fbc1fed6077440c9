"""Shared types of compiled rules: a compiled node is ``fn(data, context) -> value``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeAlias

from django_automate.rules.jsonlogic.limits import Context

#: A compiled node; ``context`` is ``None`` when the rule needs no per-evaluation state.
Fn: TypeAlias = Callable[[Any, "Context | None"], Any]
#: Where a node sits in the rule: object keys and array indexes from the root.
Path: TypeAlias = tuple[str | int, ...]


class CompiledRule(Protocol):
    """What :func:`compile_logic` returns: ``rule(data)`` evaluates the rule against ``data``."""

    def __call__(self, data: Any = None, /) -> Any: ...


def const(value: Any) -> Fn:
    """Compile a literal."""

    def literal(data: Any, context: Context | None) -> Any:
        return value

    return literal


def is_literal(node: Any) -> bool:
    """Whether ``node`` contains no operation (an empty object is a literal)."""
    kind = type(node)
    if kind is dict:
        return not node
    if kind is list:
        return all(is_literal(item) for item in node)
    return True


def is_operation(node: Any) -> bool:
    """Whether ``node`` is an operation object (exactly one key)."""
    return type(node) is dict and len(node) == 1
