"""String operators: ``cat``, ``substr``, ``in``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import contains, to_number, to_str
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler


@operator("cat")
def compile_cat(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Concatenate the arguments as strings (``null`` is ``""``, ``1.0`` is ``"1"``, ``true`` is ``"true"``)."""
    fns, dynamic = compiler.spread(args, path)
    compiler.needs_context = True
    limits, unit = compiler.limits, compiler.limits.size_unit
    if fns is not None and len(fns) == 2:
        first, second = fns

        def cat2(data: Any, context: Context | None) -> str:
            a = first(data, context)
            b = second(data, context)
            text = (a if type(a) is str else to_str(a)) + (b if type(b) is str else to_str(b))
            if len(text) >= unit and context is not None:
                limits.charge_string(context, len(text))
            return text

        return cat2
    source = dynamic if dynamic is not None else compiler.array(fns or [])

    def cat(data: Any, context: Context | None) -> str:
        text = "".join([value if type(value) is str else to_str(value) for value in source(data, context)])
        if len(text) >= unit and context is not None:
            limits.charge_string(context, len(text))
        return text

    return cat


def _integer(value: Any) -> int:
    number = to_number(value)
    if type(number) is int:
        return number
    if number != number:
        return 0
    if number in (float("inf"), float("-inf")):
        return 2**62 if number > 0 else -(2**62)
    return int(number)


def substring(text: str, start: int, length: int | None) -> str:
    """JavaScript's ``substr``, plus json-logic-js's negative length (characters to drop from the end)."""
    size = len(text)
    begin = max(size + start, 0) if start < 0 else min(start, size)
    if length is None:
        return text[begin:]
    if length < 0:
        return text[begin : max(size + length, begin)]
    return text[begin : begin + length]


@operator("substr")
def compile_substr(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``[string, start, length?]`` with negative ``start`` counting from the end."""
    fns = compiler.nodes(compiler.args_list(args, path, 2, 3), path)
    source, start_fn = fns[0], fns[1]
    length_fn = fns[2] if len(fns) == 3 else None
    limits = compiler.limits

    def substr(data: Any, context: Context | None) -> str:
        text = to_str(source(data, context))
        start = _integer(start_fn(data, context))
        length = _integer(length_fn(data, context)) if length_fn is not None else None
        result = substring(text, start, length)
        if context is not None:
            limits.charge_string(context, len(result))
        return result

    return substr


@operator("in")
def compile_in(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``[needle, haystack]``: substring of a string, or strictly equal item of an array."""
    items = compiler.args_list(args, path, 2, 2)
    needle_fn = compiler.node(items[0], (*path, 0))
    is_constant, haystack = compiler.constant(items[1])
    if is_constant and type(haystack) is list and haystack and all(type(item) is str for item in haystack):
        choices = frozenset(haystack)

        def in_strings(data: Any, context: Context | None) -> bool:
            needle = needle_fn(data, context)
            return type(needle) is str and needle in choices

        return in_strings
    haystack_fn = compiler.node(items[1], (*path, 1))
    limits, unit = compiler.limits, compiler.limits.size_unit

    def in_(data: Any, context: Context | None) -> bool:
        needle = needle_fn(data, context)
        container = haystack_fn(data, context)
        kind = type(container)
        if kind is str:
            if context is not None:
                limits.charge(context, len(container) // unit)
            return (needle if type(needle) is str else to_str(needle)) in container
        if kind is list:
            if context is not None:
                limits.charge(context, len(container) // unit)
            return contains(container, needle)
        return False

    return in_
