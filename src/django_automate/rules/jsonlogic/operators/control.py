"""Errors and plumbing: ``try``, ``throw``, ``preserve``, ``log``."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.errors import JsonLogicEvaluationError, thrown
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path, const
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler


@operator("try")
def compile_try(compiler: Compiler, args: Any, path: Path) -> Fn:
    """The first argument that evaluates without error; each fallback sees the previous error as its data.

    Only evaluation errors are caught: exhausting a limit is never recoverable inside the rule.
    """
    fns = tuple(
        compiler.nodes(compiler.args_list(args, path, 1), path) if type(args) is list else [compiler.node(args, path)]
    )
    compiler.needs_context = True
    first, fallbacks = fns[0], fns[1:]

    def try_(data: Any, context: Context | None) -> Any:
        assert context is not None
        stack = context
        depth = len(stack)
        try:
            return first(data, context)
        except JsonLogicEvaluationError as exc:
            error = exc
        for fallback in fallbacks:
            del stack[depth:]
            stack.append(data)
            stack.append(error.value)
            try:
                return fallback(error.value, context)
            except JsonLogicEvaluationError as exc:
                error = exc
            finally:
                del stack[depth:]
        raise error

    return try_


@operator("throw")
def compile_throw(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Raise an evaluation error whose type is the string argument (or the ``type`` of an object)."""
    if type(args) is list:
        compiler.args_list(args, path, 1, 1)
        source = compiler.node(args[0], (*path, 0))
    else:
        source = compiler.node(args, path)

    def throw(data: Any, context: Context | None) -> Any:
        raise thrown(source(data, context))

    return throw


@operator("preserve")
def compile_preserve(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Its argument, unevaluated: the way to write literal objects and arrays."""
    return const(copy.deepcopy(args))


@operator("log")
def compile_log(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Its argument's value. Unlike json-logic-js it prints nothing: evaluation does no I/O."""
    if type(args) is list:
        compiler.args_list(args, path, 1, 1)
        return compiler.node(args[0], (*path, 0))
    return compiler.node(args, path)
