"""Array operators: ``map``, ``filter``, ``reduce``, ``all``, ``some``, ``none``, ``merge``.

Iterators evaluate their body with each item as the data. Every item costs the body's size in
work units, charged before the loop (so a huge input fails before any work is done, even for
the short-circuiting ``all``/``some``/``none``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import json_type, truthy
from django_automate.rules.jsonlogic.errors import invalid_arguments
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler

_SCALARS = (type(None), str, int, float, bool)


def _size(node: Any) -> int:
    """Number of JSON values in ``node`` (the cost of one evaluation of an iterator body)."""
    count, stack = 0, [node]
    while stack:
        item = stack.pop()
        count += 1
        if type(item) is dict:
            stack.extend(item.values())
        elif type(item) is list:
            stack.extend(item)
    return count


def _iterator(compiler: Compiler, args: Any, path: Path, body_required: bool, maximum: int = 2) -> tuple[Fn, ...]:
    """Check and compile ``[array, body, (initial)]``; return the compiled nodes."""
    items = compiler.args_list(args, path, 2, maximum)
    if type(items[0]) in _SCALARS:
        raise compiler.invalid(f"the first argument of {path[-1]!r} must be an array or an operation.", (*path, 0))
    if body_required and items[1] is None:
        raise compiler.invalid(f"the second argument of {path[-1]!r} must be an expression, not null.", (*path, 1))
    compiler.needs_context = True
    return tuple(compiler.nodes(items, path))


def _body(compiler: Compiler, args: Any, path: Path, body_required: bool, maximum: int = 2) -> tuple[Fn, Fn, int, bool]:
    before = compiler.scope_uses
    fns = _iterator(compiler, args, path, body_required, maximum)
    scoped = compiler.scope_uses > before
    return fns[0], fns[1], _size(args[1]), scoped


@operator("map")
def compile_map(compiler: Compiler, args: Any, path: Path) -> Fn:
    """The body's value for each item; ``[]`` when the input is not an array."""
    source, body, cost, scoped = _body(compiler, args, path, body_required=True)
    limits = compiler.limits

    def map_(data: Any, context: Context | None) -> list[Any]:
        assert context is not None
        items = source(data, context)
        if type(items) is not list:
            return []
        limits.charge(context, len(items) * cost)
        if not scoped:
            return [body(item, context) for item in items]
        stack = context
        stack.append(data)
        result = []
        for index, item in enumerate(items):
            stack.append({"index": index})
            result.append(body(item, context))
            stack.pop()
        stack.pop()
        return result

    return map_


@operator("filter")
def compile_filter(compiler: Compiler, args: Any, path: Path) -> Fn:
    """The items for which the body is truthy; ``[]`` when the input is not an array."""
    source, body, cost, scoped = _body(compiler, args, path, body_required=True)
    limits = compiler.limits

    def filter_(data: Any, context: Context | None) -> list[Any]:
        assert context is not None
        items = source(data, context)
        if type(items) is not list:
            return []
        limits.charge(context, len(items) * cost)
        if not scoped:
            return [item for item in items if truthy(body(item, context))]
        stack = context
        stack.append(data)
        result = []
        for index, item in enumerate(items):
            stack.append({"index": index})
            if truthy(body(item, context)):
                result.append(item)
            stack.pop()
        stack.pop()
        return result

    return filter_


@operator("reduce")
def compile_reduce(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Fold the items: the body sees ``{"current": item, "accumulator": value}``."""
    before = compiler.scope_uses
    fns = _iterator(compiler, args, path, body_required=True, maximum=3)
    scoped = compiler.scope_uses > before
    source, body = fns[0], fns[1]
    initial = fns[2] if len(fns) == 3 else None
    cost = _size(args[1])
    limits = compiler.limits

    def reduce_(data: Any, context: Context | None) -> Any:
        assert context is not None
        items = source(data, context)
        accumulator = initial(data, context) if initial is not None else None
        if type(items) is not list:
            return accumulator
        limits.charge(context, len(items) * cost)
        if scoped:
            context.append(data)
        for index, item in enumerate(items):
            if scoped:
                context.append({"index": index})
            accumulator = body({"current": item, "accumulator": accumulator}, context)
            if scoped:
                context.pop()
        if scoped:
            context.pop()
        return accumulator

    return reduce_


def _quantifier(name: str, empty: bool, stop_on: bool, result_on_stop: bool) -> None:
    @operator(name)
    def compile_quantifier(compiler: Compiler, args: Any, path: Path) -> Fn:
        source, body, cost, scoped = _body(compiler, args, path, body_required=False)
        limits = compiler.limits

        def quantifier(data: Any, context: Context | None) -> bool:
            assert context is not None
            items = source(data, context)
            if type(items) is not list:
                raise invalid_arguments(f"{name!r} needs an array to iterate, got {json_type(items)}.")
            if not items:
                return empty
            limits.charge(context, len(items) * cost)
            if not scoped:
                for item in items:
                    if truthy(body(item, context)) is stop_on:
                        return result_on_stop
                return not result_on_stop
            context.append(data)
            for index, item in enumerate(items):
                context.append({"index": index})
                outcome = truthy(body(item, context))
                context.pop()
                if outcome is stop_on:
                    context.pop()
                    return result_on_stop
            context.pop()
            return not result_on_stop

        return quantifier


_quantifier("all", empty=False, stop_on=False, result_on_stop=False)
_quantifier("some", empty=False, stop_on=True, result_on_stop=True)
_quantifier("none", empty=True, stop_on=True, result_on_stop=False)


def _flatten(values: list[Any]) -> list[Any]:
    result: list[Any] = []
    for value in values:
        if type(value) is list:
            result.extend(value)
        else:
            result.append(value)
    return result


@operator("merge")
def compile_merge(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Concatenate the arguments, flattening array arguments one level."""
    fns, dynamic = compiler.spread(args, path)
    compiler.needs_context = True
    source: Callable[[Any, Context | None], list[Any]] = dynamic or compiler.array(fns or [])
    limits = compiler.limits

    def merge(data: Any, context: Context | None) -> list[Any]:
        result = _flatten(source(data, context))
        if context is not None:
            limits.charge_array(context, len(result))
        return result

    return merge
