"""The step graph of a definition (SPEC §13): which steps each step needs, and which are ready.

A step's ``needs`` lists the steps it waits for; ``needs: []`` starts with the run. A step
without ``needs`` needs the step listed before it (none for the first), so a definition
without any ``needs`` is the chain it always was. A definition is a *graph* when one of its
steps says ``needs`` or ``for_each``: its ready steps (and items) then run in parallel, each as
its own job.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def is_graph(definition: Mapping[str, Any]) -> bool:
    """Whether a step of ``definition`` declares ``needs`` or ``for_each`` (its steps run as a graph of jobs)."""
    steps = definition.get("steps")
    return isinstance(steps, list) and any(
        isinstance(step, dict) and ("needs" in step or "for_each" in step) for step in steps
    )


def needs_of(steps: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Each step id -> the ids it needs, explicit or implied (the step listed before it)."""
    needs: dict[str, list[str]] = {}
    previous: str | None = None
    for step in steps:
        step_id = str(step.get("id"))
        declared = step.get("needs")
        if isinstance(declared, list):
            needs[step_id] = [str(item) for item in declared]
        else:
            needs[step_id] = [] if previous is None else [previous]
        previous = step_id
    return needs


def cycle(needs: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A cycle of ``needs`` as its step ids in order (the first repeated at the end), or None.

    Iterative depth-first search; ids not in ``needs`` (unknown steps) are ignored here.
    """
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in needs:
        if state.get(root):
            continue
        path: list[str] = [root]
        iterators = [iter(needs[root])]
        state[root] = 1
        while iterators:
            following = next(iterators[-1], None)
            if following is None:
                state[path.pop()] = 2
                iterators.pop()
                continue
            if following not in needs:
                continue
            if state.get(following) == 1:
                return [*path[path.index(following) :], following]
            if not state.get(following):
                state[following] = 1
                path.append(following)
                iterators.append(iter(needs[following]))
    return None


def ancestors(needs: Mapping[str, Sequence[str]]) -> dict[str, frozenset[str]]:
    """Each step id -> every step it needs directly or through its needs (for an acyclic ``needs``)."""
    found: dict[str, frozenset[str]] = {}
    for root in needs:
        if root in found:
            continue
        stack = [root]
        while stack:
            step_id = stack[-1]
            pending = [n for n in needs.get(step_id, ()) if n in needs and n not in found]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            if step_id in found:
                continue
            above: set[str] = set()
            for needed in needs.get(step_id, ()):
                if needed in needs:
                    above.add(needed)
                    above |= found[needed]
            found[step_id] = frozenset(above)
    return found


def ready(needs: Mapping[str, Sequence[str]], finished: Iterable[str], started: Iterable[str]) -> list[str]:
    """The steps, in definition order, not started yet whose needs have all finished."""
    done, begun = set(finished), set(started)
    return [
        step_id
        for step_id, needed in needs.items()
        if step_id not in done and step_id not in begun and all(n in done for n in needed)
    ]
