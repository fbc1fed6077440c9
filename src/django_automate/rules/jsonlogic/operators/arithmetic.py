"""Arithmetic: ``+ - * / %``, ``min``, ``max``. Operands convert like JavaScript's ``Number()``.

Every result that would be ``NaN`` in JavaScript (``"a" + 1``, division by zero) raises the
``NaN`` evaluation error instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import reduce
from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import MAX_SAFE_INTEGER, normalize_int, to_number
from django_automate.rules.jsonlogic.errors import NOT_A_NUMBER, JsonLogicEvaluationError, invalid_arguments
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler

Number = int | float


def _checked(value: Number) -> Number:
    if type(value) is int:
        return normalize_int(value)
    if value != value:
        raise JsonLogicEvaluationError(NOT_A_NUMBER, "the result is not a number")
    return value


def _add(values: list[Any]) -> Number:
    total: Number = 0
    for value in values:
        total += to_number(value)
    return _checked(total)


def _multiply(values: list[Any]) -> Number:
    product: Number = 1
    for value in values:
        product = _checked(product * to_number(value))
    return product


def _subtract(values: list[Any]) -> Number:
    if not values:
        raise invalid_arguments("'-' takes at least 1 argument.")
    if len(values) == 1:
        return _checked(-to_number(values[0]))
    return _checked(reduce(lambda a, b: a - to_number(b), values[1:], to_number(values[0])))


def _div(left: Number, right: Number) -> Number:
    if right == 0:
        raise JsonLogicEvaluationError(NOT_A_NUMBER, "division by zero")
    try:
        return _checked(left / right)
    except OverflowError:
        return _checked(float(left) / float(right))


def _divide(values: list[Any]) -> Number:
    if not values:
        raise invalid_arguments("'/' takes at least 1 argument.")
    if len(values) == 1:
        return _div(1, to_number(values[0]))
    return reduce(lambda a, b: _div(a, to_number(b)), values[1:], to_number(values[0]))


def _mod(left: Number, right: Number) -> Number:
    """JavaScript's remainder: the sign follows the dividend."""
    if right == 0:
        raise JsonLogicEvaluationError(NOT_A_NUMBER, "modulo by zero")
    if type(left) is int and type(right) is int:
        remainder = abs(left) % abs(right)
        return -remainder if left < 0 else remainder
    try:
        return _checked(math.fmod(left, right))
    except ValueError as exc:  # fmod(inf, x)
        raise JsonLogicEvaluationError(NOT_A_NUMBER, "the result is not a number") from exc


def _modulo(values: list[Any]) -> Number:
    if len(values) < 2:
        raise invalid_arguments(f"'%' takes at least 2 arguments, got {len(values)}.")
    return reduce(lambda a, b: _mod(a, to_number(b)), values[1:], to_number(values[0]))


def _extreme(pick: Callable[[list[Number]], Number], name: str) -> Callable[[list[Any]], Number]:
    def extreme(values: list[Any]) -> Number:
        if not values:
            raise invalid_arguments(f"{name!r} takes at least 1 argument.")
        return pick([to_number(value) for value in values])

    return extreme


def _fast_add(left: Fn, right: Fn) -> Fn:
    def add2(data: Any, context: Context | None) -> Number:
        a = left(data, context)
        b = right(data, context)
        if type(a) is int and type(b) is int:
            total = a + b
            if -MAX_SAFE_INTEGER <= total <= MAX_SAFE_INTEGER:
                return total
        return _add([a, b])

    return add2


def _fast_binary(compute: Callable[[Number, Number], Number], left: Fn, right: Fn) -> Fn:
    def binary(data: Any, context: Context | None) -> Number:
        return compute(to_number(left(data, context)), to_number(right(data, context)))

    return binary


_VARIADIC: dict[str, tuple[Callable[[list[Any]], Number], int]] = {
    "+": (_add, 0),
    "*": (_multiply, 0),
    "-": (_subtract, 1),
    "/": (_divide, 1),
    "%": (_modulo, 2),
    "min": (_extreme(min, "min"), 1),
    "max": (_extreme(max, "max"), 1),
}
_BINARY: dict[str, Callable[[Number, Number], Number]] = {
    "-": lambda a, b: _checked(a - b),
    "*": lambda a, b: _checked(a * b),
    "/": _div,
    "%": _mod,
}


def _register(name: str) -> None:
    compute, minimum = _VARIADIC[name]

    @operator(name)
    def compile_arithmetic(compiler: Compiler, args: Any, path: Path) -> Fn:
        fns, dynamic = compiler.spread(args, path, minimum)
        if dynamic is not None:
            source = dynamic

            def arithmetic_dynamic(data: Any, context: Context | None) -> Number:
                return compute(source(data, context))

            return arithmetic_dynamic
        assert fns is not None
        if len(fns) == 2 and name == "+":
            return _fast_add(fns[0], fns[1])
        if len(fns) == 2 and name in _BINARY:
            return _fast_binary(_BINARY[name], fns[0], fns[1])
        if len(fns) == 1 and name in ("+", "min", "max"):
            only = fns[0]

            def unary(data: Any, context: Context | None) -> Number:
                return to_number(only(data, context))

            return unary
        items = tuple(fns)

        def arithmetic(data: Any, context: Context | None) -> Number:
            return compute([fn(data, context) for fn in items])

        return arithmetic


for _name in _VARIADIC:
    _register(_name)
