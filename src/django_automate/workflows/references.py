"""Which run data a step reads: template placeholders and JSON Logic ``var`` paths, checked when publishing.

A step can only read what exists when it runs: ``event``, ``run``, ``trace_id`` and the
``steps`` that ran before it. Reading a later step, itself, a step that does not exist or
an unknown root is reported with the JSON path of the offending value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from django_automate import exceptions
from django_automate.workflows.templating import ROOTS, is_logic, placeholders

#: JSON Logic operators whose arguments after the first see other data (an item, an error).
SCOPED_OPERATORS = frozenset({"map", "filter", "reduce", "all", "some", "none", "try"})
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Problem = Callable[[str, str], None]


def join(path: str, key: str | int) -> str:
    """Extend a JSON path: ``$.a`` + ``b`` → ``$.a.b``; ``0`` → ``$.a[0]``; ``"$logic"`` → ``$.a["$logic"]``."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _IDENTIFIER.match(key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key)}]"


@dataclass(frozen=True)
class StepScope:
    """The step being checked and the ids of the steps before and after it."""

    step_id: str | None
    earlier: frozenset[str]
    later: frozenset[str]
    #: In a graph, ``earlier`` is the step's ancestors and ``later`` every other step.
    graph: bool = False
    #: Data roots this step reads besides the run's (``item``, ``item_index`` in a ``for_each`` step).
    extra_roots: frozenset[str] = frozenset()

    def check(self, parts: list[str], path: str, problem: Problem) -> None:
        """Report a data path (split on dots) this step cannot read."""
        if not parts or parts == [""]:
            return
        root = parts[0]
        if root in self.extra_roots:
            return
        if root not in ROOTS:
            problem(path, f"Unknown data root {root!r}; use one of {', '.join(sorted(ROOTS))}.")
        elif root == "steps" and len(parts) > 1:
            target = parts[1]
            if target in self.earlier:
                return
            if target == self.step_id:
                problem(path, f"Step {target!r} cannot read its own output.")
            elif target in self.later and self.graph:
                problem(
                    path,
                    f"Step {target!r} is not among the steps this step needs (directly or through their"
                    " needs); only those can be read.",
                )
            elif target in self.later:
                problem(path, f"Step {target!r} runs after this step; only earlier steps can be read.")
            else:
                problem(path, f"There is no step {target!r}.")


def logic_references(logic: Any) -> Iterator[tuple[list[str | int], list[str]]]:
    """Yield ``(location, path parts)`` for each ``var``/``val``/``exists`` of ``logic`` read from the run data.

    ``location`` is the list of keys and indexes leading to the reading operation. Lookups
    inside iterator bodies and ``try`` fallbacks read other data and are not yielded, nor are
    computed (non-literal) paths.
    """
    stack: list[tuple[Any, list[str | int]]] = [(logic, [])]
    while stack:
        node, location = stack.pop()
        if isinstance(node, list):
            stack.extend((item, [*location, index]) for index, item in enumerate(node))
            continue
        if not isinstance(node, dict) or len(node) != 1:
            continue
        ((operator, args),) = node.items()
        here = [*location, operator]
        if operator == "var":
            target = args[0] if isinstance(args, list) and args else args
            if isinstance(target, str):
                yield here, target.split(".")
            elif isinstance(target, (dict, list)):
                stack.append((args, here))
            continue
        if operator in ("val", "exists"):
            keys = args if isinstance(args, list) else [args]
            if keys and all(isinstance(k, str) for k in keys):
                yield here, [str(k) for k in keys]
            continue
        if operator == "preserve":
            continue
        if operator in SCOPED_OPERATORS:
            if isinstance(args, list) and args:
                stack.append((args[0], [*here, 0]))
            continue
        stack.append((args, here))


def check_logic(logic: Any, path: str, scope: StepScope, problem: Problem) -> None:
    """Validate JSON Logic at ``path`` and the data it reads."""
    from django_automate.rules.jsonlogic import validate_logic

    try:
        validate_logic(logic)
    except exceptions.ValidationError as exc:
        problem(path, exc.message)
        return
    for location, parts in logic_references(logic):
        where = path
        for key in location:
            where = join(where, key)
        scope.check(parts, where, problem)


def check_template_value(value: Any, path: str, scope: StepScope, problem: Problem) -> None:
    """Check every template string and ``$logic`` object inside a step's ``with`` (iteratively)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, str):
            _check_string(node, where, scope, problem)
        elif isinstance(node, list):
            stack.extend((item, join(where, index)) for index, item in reversed(list(enumerate(node))))
        elif isinstance(node, dict):
            if is_logic(node):
                check_logic(node["$logic"], join(where, "$logic"), scope, problem)
                continue
            if "$logic" in node:
                problem(join(where, "$logic"), "$logic must be the only key of its object.")
            stack.extend((item, join(where, key)) for key, item in reversed(list(node.items())))


def _check_string(text: str, path: str, scope: StepScope, problem: Problem) -> None:
    if "{{" not in text:
        return
    try:
        for placeholder in placeholders(text):
            scope.check(placeholder.path.split("."), path, problem)
    except exceptions.ValidationError as exc:
        problem(path, exc.message)
