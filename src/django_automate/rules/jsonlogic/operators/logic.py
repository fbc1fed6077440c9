"""Boolean and branching operators: ``and``, ``or``, ``!``, ``!!``, ``if``, ``?:``, ``??``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import truthy
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path, const
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler


@operator("and")
def compile_and(compiler: Compiler, args: Any, path: Path) -> Fn:
    """First falsy argument, else the last one; ``false`` without arguments. Short-circuits."""
    fns = compiler.nodes(compiler.args_list(args, path), path)
    if not fns:
        return const(False)
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        first, second = fns

        def and2(data: Any, context: Context | None) -> Any:
            value = first(data, context)
            if not truthy(value):
                return value
            return second(data, context)

        return and2
    items = tuple(fns)

    def and_(data: Any, context: Context | None) -> Any:
        value = None
        for fn in items:
            value = fn(data, context)
            if not truthy(value):
                return value
        return value

    return and_


@operator("or")
def compile_or(compiler: Compiler, args: Any, path: Path) -> Fn:
    """First truthy argument, else the last one; ``false`` without arguments. Short-circuits."""
    fns = compiler.nodes(compiler.args_list(args, path), path)
    if not fns:
        return const(False)
    if len(fns) == 1:
        return fns[0]
    if len(fns) == 2:
        first, second = fns

        def or2(data: Any, context: Context | None) -> Any:
            value = first(data, context)
            if truthy(value):
                return value
            return second(data, context)

        return or2
    items = tuple(fns)

    def or_(data: Any, context: Context | None) -> Any:
        value = None
        for fn in items:
            value = fn(data, context)
            if truthy(value):
                return value
        return value

    return or_


def _single(compiler: Compiler, args: Any, path: Path) -> Fn | None:
    """The one argument of a unary operator (``[x]`` or ``x``); ``None`` when there is none."""
    if type(args) is list:
        compiler.args_list(args, path, 0, 1)
        return compiler.node(args[0], (*path, 0)) if args else None
    return compiler.node(args, path)


@operator("!")
def compile_not(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Boolean negation of JSON Logic truthiness."""
    fn = _single(compiler, args, path)
    if fn is None:
        return const(True)

    def not_(data: Any, context: Context | None) -> bool:
        return not truthy(fn(data, context))

    return not_


@operator("!!")
def compile_bool(compiler: Compiler, args: Any, path: Path) -> Fn:
    """JSON Logic truthiness as a boolean."""
    fn = _single(compiler, args, path)
    if fn is None:
        return const(False)

    def bool_(data: Any, context: Context | None) -> bool:
        return truthy(fn(data, context))

    return bool_


@operator("if", "?:")
def compile_if(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``[cond, then, cond2, then2, ..., else]``; only the chosen branch is evaluated."""
    fns = compiler.nodes(compiler.args_list(args, path), path)
    if not fns:
        return const(None)
    if len(fns) == 1:
        return fns[0]
    if len(fns) <= 3:
        condition, then = fns[0], fns[1]
        otherwise = fns[2] if len(fns) == 3 else None

        def if_(data: Any, context: Context | None) -> Any:
            if truthy(condition(data, context)):
                return then(data, context)
            return otherwise(data, context) if otherwise is not None else None

        return if_
    pairs = tuple((fns[i], fns[i + 1]) for i in range(0, len(fns) - 1, 2))
    fallback = fns[-1] if len(fns) % 2 else None

    def if_chain(data: Any, context: Context | None) -> Any:
        for condition, then in pairs:
            if truthy(condition(data, context)):
                return then(data, context)
        return fallback(data, context) if fallback is not None else None

    return if_chain


@operator("??")
def compile_coalesce(compiler: Compiler, args: Any, path: Path) -> Fn:
    """The first argument that is not ``null``; evaluates no further."""
    items = tuple(compiler.nodes(args, path) if type(args) is list else [compiler.node(args, path)])

    def coalesce(data: Any, context: Context | None) -> Any:
        for fn in items:
            value = fn(data, context)
            if value is not None:
                return value
        return None

    return coalesce
