"""Compile a validated JSON Logic rule into nested Python closures (no ``eval``, no source code)."""

from __future__ import annotations

import copy
from typing import Any

from django_automate.rules.jsonlogic import operators
from django_automate.rules.jsonlogic.coercion import json_type
from django_automate.rules.jsonlogic.errors import (
    INVALID_ARGUMENTS,
    NOT_A_NUMBER,
    UNKNOWN_OPERATOR,
    JsonLogicError,
    JsonLogicEvaluationError,
    JsonLogicLimitExceeded,
    JsonLogicValidationError,
    format_path,
)
from django_automate.rules.jsonlogic.limits import DEFAULT_LIMITS, Context, Limits
from django_automate.rules.jsonlogic.nodes import CompiledRule, Fn, Path, const, is_literal, is_operation
from django_automate.rules.jsonlogic.structure import check_structure

#: Operators whose value depends only on their arguments: with literal arguments they are
#: evaluated once, at compile time ("constant folding"), when that succeeds and gives a scalar.
PURE_OPERATORS = frozenset(
    ["==", "!=", "===", "!==", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "min", "max", "cat", "substr", "in",
     "!", "!!", "and", "or", "if", "?:", "??"]
)  # fmt: skip
_SCALARS = (str, int, float, bool, type(None))


class Compiler:
    """Turns one rule into closures, checking each operator's arguments on the way.

    Operator compilers (see :mod:`.operators`) call back into :meth:`node` for their arguments
    and use the helpers below to validate arity with a precise JSON path.
    """

    def __init__(
        self, limits: Limits = DEFAULT_LIMITS, *, trace: dict[Path, list[Any]] | None = None, fold: bool = True
    ) -> None:
        self.limits = limits
        self.fold = fold and trace is None
        #: When set (by explain()), every node records ``[count, last value, last error]`` here.
        self.trace = trace
        #: Set by operators that need a :class:`Context` (budget, scopes) at evaluation time.
        self.needs_context = False
        #: Incremented by every ``val`` that climbs scopes, so iterators know whether to keep them.
        self.scope_uses = 0

    # -- nodes -----------------------------------------------------------------------------
    def node(self, node: Any, path: Path) -> Fn:
        """Compile any JSON value of the rule."""
        kind = type(node)
        if kind is dict and node:
            if len(node) != 1:
                keys = ", ".join(repr(key) for key in list(node)[:5])
                raise JsonLogicValidationError(
                    f"An operation must be an object with exactly one key, got {len(node)} keys ({keys}); "
                    'wrap literal objects in {"preserve": ...}.',
                    path=format_path(path),
                )
            ((name, args),) = node.items()
            compile_operator = operators.OPERATORS.get(name)
            if compile_operator is None:
                raise JsonLogicValidationError(
                    f"{UNKNOWN_OPERATOR}: {name!r} is not a supported operator.", path=format_path(path)
                )
            needed_context = self.needs_context
            fn = compile_operator(self, args, (*path, name))
            if self.fold and name in PURE_OPERATORS and is_literal(args):
                folded = self._fold(fn)
                if folded is not None:
                    self.needs_context = needed_context
                    fn = folded
        elif kind is list and not is_literal(node):
            fn = self.array(self.nodes(node, path))
        else:
            fn = const(copy.deepcopy(node) if kind is list or kind is dict else node)
        if self.trace is not None:
            fn = _traced(fn, path, self.trace)
        return fn

    def _fold(self, fn: Fn) -> Fn | None:
        """The constant value of a pure operation on literals, or ``None`` to evaluate it each time.

        Errors (``NaN``...) and non-scalar values stay at run time, where ``try`` can catch them
        and callers get a fresh array each time.
        """
        try:
            value = fn(None, self.limits.new_context())
        except (JsonLogicError, RecursionError, OverflowError):
            return None
        return const(value) if type(value) in _SCALARS else None

    def nodes(self, items: list[Any], path: Path) -> list[Fn]:
        """Compile each item of a list of arguments."""
        return [self.node(item, (*path, index)) for index, item in enumerate(items)]

    @staticmethod
    def array(fns: list[Fn]) -> Fn:
        """A node building an array from its compiled items."""
        items = tuple(fns)

        def array(data: Any, context: Context | None) -> list[Any]:
            return [fn(data, context) for fn in items]

        return array

    def constant(self, node: Any) -> tuple[bool, Any]:
        """``(True, value)`` when ``node`` evaluates to a value known now (a literal or ``preserve``)."""
        if self.trace is not None:
            return False, None  # explain() must see every node evaluated
        if is_literal(node):
            return True, node
        if is_operation(node) and "preserve" in node:
            return True, node["preserve"]
        return False, None

    # -- argument helpers --------------------------------------------------------------------
    def invalid(self, message: str, path: Path) -> JsonLogicValidationError:
        """The validation error for arguments that are wrong before evaluation."""
        return JsonLogicValidationError(f"{INVALID_ARGUMENTS}: {message}", path=format_path(path))

    def args_list(self, args: Any, path: Path, minimum: int = 0, maximum: int | None = None) -> list[Any]:
        """Require a literal array of ``minimum``..``maximum`` arguments (for lazy operators)."""
        name = path[-1]
        if type(args) is not list:
            raise self.invalid(f"{name!r} takes an array of arguments, not {_describe(args)}.", path)
        count = len(args)
        if count < minimum or (maximum is not None and count > maximum):
            if maximum is None:
                expected = f"at least {minimum}"
            elif maximum == minimum:
                expected = f"exactly {minimum}"
            else:
                expected = f"{minimum} to {maximum}"
            raise self.invalid(f"{name!r} takes {expected} {_plural(expected)}, got {count}.", path)
        return args

    def spread(self, args: Any, path: Path, minimum: int = 0) -> tuple[list[Fn] | None, Fn | None]:
        """Arguments of operators that accept an array, one value, or an operation yielding an array.

        Returns ``(fns, None)`` when the arguments are known now, else ``(None, dynamic)`` where
        ``dynamic`` evaluates to the argument list.
        """
        if type(args) is list:
            if len(args) < minimum:
                raise self.invalid(f"{path[-1]!r} takes at least {minimum} {_plural(minimum)}, got {len(args)}.", path)
            return self.nodes(args, path), None
        if is_operation(args):
            inner = self.node(args, path)

            def dynamic(data: Any, context: Context | None) -> list[Any]:
                value = inner(data, context)
                return value if type(value) is list else [value]

            return None, dynamic
        if minimum > 1:
            raise self.invalid(f"{path[-1]!r} takes at least {minimum} arguments, got 1.", path)
        return [self.node(args, path)], None


def _describe(value: Any) -> str:
    if is_operation(value):
        return f"an operation ({next(iter(value))!r})"
    kind = json_type(value)
    return f"an {kind}" if kind[0] in "aeiou" else f"a {kind}"


def _plural(count: int | str) -> str:
    return "argument" if count in (1, "exactly 1", "at least 1") else "arguments"


def _traced(fn: Fn, path: Path, trace: dict[Path, list[Any]]) -> Fn:
    """Wrap ``fn`` to record its evaluation count and last value (or error) for explain()."""

    def traced(data: Any, context: Context | None) -> Any:
        entry = trace.setdefault(path, [0, None, None])
        entry[0] += 1
        try:
            value = fn(data, context)
        except (JsonLogicEvaluationError, JsonLogicLimitExceeded) as exc:
            entry[2] = exc
            raise
        entry[1], entry[2] = value, None
        return value

    return traced


def build(
    logic: Any, limits: Limits = DEFAULT_LIMITS, *, trace: dict[Path, list[Any]] | None = None, fold: bool = True
) -> tuple[Fn, bool]:
    """Check and compile ``logic``; return the root node and whether it needs a :class:`Context`."""
    check_structure(logic, limits)
    compiler = Compiler(limits, trace=trace, fold=fold)
    root = compiler.node(logic, ())
    return root, compiler.needs_context or trace is not None


def compile_logic(logic: Any, *, limits: Limits | None = None, fold: bool = True) -> CompiledRule:
    """Validate ``logic`` and compile it into ``fn(data) -> value``.

    Raises :class:`JsonLogicValidationError` (or :class:`JsonLogicLimitExceeded` for a rule too
    deep or too large). The callable raises :class:`JsonLogicEvaluationError` for runtime errors
    (``NaN``, ``throw``...) and :class:`JsonLogicLimitExceeded` when it exhausts its work budget.
    ``fold=False`` turns off constant folding (for benchmarks and debugging).
    """
    active = limits or DEFAULT_LIMITS
    root, needs_context = build(logic, active, fold=fold)
    if not needs_context:

        def run_simple(data: Any = None) -> Any:
            try:
                return root(data, None)
            except (RecursionError, OverflowError) as exc:
                raise _translate(exc) from None

        return run_simple

    max_work = active.max_work

    def run(data: Any = None) -> Any:
        try:
            return root(data, [max_work])
        except (RecursionError, OverflowError) as exc:
            raise _translate(exc) from None

    return run


def _translate(exc: Exception) -> JsonLogicError:
    """Turn Python's own limits (hit only by extreme data) into the engine's errors."""
    if isinstance(exc, RecursionError):
        return JsonLogicLimitExceeded("The data is nested too deeply to evaluate.", limit="recursion")
    return JsonLogicEvaluationError(NOT_A_NUMBER, "a number is out of range")
