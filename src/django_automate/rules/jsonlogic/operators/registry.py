"""The operator registry: operator name -> function compiling its arguments into a node."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeAlias

from django_automate.exceptions import ImproperlyConfigured
from django_automate.rules.jsonlogic.nodes import Fn, Path

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler

#: ``compile(compiler, args, path)``: ``args`` is the raw JSON under the operator key and
#: ``path`` its location (the node's path plus the operator name).
OpCompiler: TypeAlias = Callable[["Compiler", Any, Path], Fn]

OPERATORS: dict[str, OpCompiler] = {}


def operator(*names: str) -> Callable[[OpCompiler], OpCompiler]:
    """Register the decorated function as the compiler of the operators ``names``."""

    def register(function: OpCompiler) -> OpCompiler:
        for name in names:
            if name in OPERATORS:
                raise ImproperlyConfigured(f"JSON Logic operator {name!r} is registered twice.")
            OPERATORS[name] = function
        return function

    return register
