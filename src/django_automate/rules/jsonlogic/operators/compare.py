"""Comparison operators. With more than two arguments they chain (``a < b < c``), lazily."""

from __future__ import annotations

import operator as py
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import comparable, loose_equals, strict_equals
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler

Relation = Callable[[Any, Any], bool]


def _ordering(compare: Callable[[Any, Any], bool]) -> Relation:
    def relation(left: Any, right: Any) -> bool:
        left_kind = type(left)
        right_kind = type(right)
        if (left_kind is int or left_kind is float) and (right_kind is int or right_kind is float):
            return compare(left, right)
        left, right = comparable(left, right)
        return compare(left, right)

    return relation


def _not_loose(left: Any, right: Any) -> bool:
    return not loose_equals(left, right)


def _not_strict(left: Any, right: Any) -> bool:
    return not strict_equals(left, right)


_RELATIONS: dict[str, Relation] = {
    "==": loose_equals,
    "!=": _not_loose,
    "===": strict_equals,
    "!==": _not_strict,
    "<": _ordering(py.lt),
    "<=": _ordering(py.le),
    ">": _ordering(py.gt),
    ">=": _ordering(py.ge),
}
_EQUALITY = {"==": True, "===": True, "!=": False, "!==": False}
_SIMPLE = (str, int, float)


def _equality(fns: list[Fn], relation: Relation, positive: bool, constant: tuple[bool, Any]) -> Fn:
    """Two-argument ``==``/``===``/``!=``/``!==`` with a fast path for same-typed scalars."""
    left = fns[0]
    is_constant, value = constant
    if is_constant and type(value) in _SIMPLE:
        kind = type(value)

        def equals_constant(data: Any, context: Context | None) -> bool:
            item = left(data, context)
            if type(item) is kind:
                return (item == value) is positive
            return relation(item, value)

        return equals_constant
    right = fns[1]

    def equals(data: Any, context: Context | None) -> bool:
        a = left(data, context)
        b = right(data, context)
        kind = type(a)
        if kind is type(b) and kind in _SIMPLE:
            return (a == b) is positive
        return relation(a, b)

    return equals


def _compile_comparison(name: str) -> None:
    relation = _RELATIONS[name]
    fast = {"<": py.lt, "<=": py.le, ">": py.gt, ">=": py.ge}.get(name)

    @operator(name)
    def compile_comparison(compiler: Compiler, args: Any, path: Path) -> Fn:
        items = compiler.args_list(args, path, 2)
        fns = compiler.nodes(items, path)
        if len(fns) == 2:
            if name in _EQUALITY:
                return _equality(fns, relation, _EQUALITY[name], compiler.constant(items[1]))
            left, right = fns
            assert fast is not None

            def compare2(data: Any, context: Context | None) -> bool:
                a = left(data, context)
                b = right(data, context)
                left_kind = type(a)
                right_kind = type(b)
                if (left_kind is int or left_kind is float) and (right_kind is int or right_kind is float):
                    result: bool = fast(a, b)
                    return result
                return relation(a, b)

            return compare2
        first, rest = fns[0], tuple(fns[1:])
        if fast is None:

            def chain(data: Any, context: Context | None) -> bool:
                previous = first(data, context)
                for fn in rest:
                    current = fn(data, context)
                    if not relation(previous, current):
                        return False
                    previous = current
                return True

            return chain

        def ordered_chain(data: Any, context: Context | None) -> bool:
            previous = first(data, context)
            for fn in rest:
                current = fn(data, context)
                left_kind = type(previous)
                right_kind = type(current)
                if (left_kind is int or left_kind is float) and (right_kind is int or right_kind is float):
                    if not fast(previous, current):
                        return False
                elif not relation(previous, current):
                    return False
                previous = current
            return True

        return ordered_chain


for _name in _RELATIONS:
    _compile_comparison(_name)
