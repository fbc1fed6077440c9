"""A layered layout of a definition's step graph, for drawing it (SPEC §13, §16).

Each step's layer is the length of the longest chain of ``needs`` leading to it (steps that
need nothing are layer 0), so every edge points to a later layer; within a layer steps keep
their definition order. Needs are resolved by :func:`django_automate.workflows.graph.needs_of`,
implicit ones (a step without ``needs`` needs the step before it) included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django_automate.workflows.graph import cycle, needs_of

#: Step keys that mark a node, in the order they are looked for.
MARKS = ("for_each", "sleep", "wait_for", "approval")


@dataclass(frozen=True)
class Node:
    step_id: str
    layer: int
    position: int  # order within the layer
    kind: str  # one of MARKS, or "step"
    label: str  # "connector.action" for a connector step, else the kind


@dataclass(frozen=True)
class Layout:
    nodes: list[Node]
    edges: list[tuple[str, str]]  # (needed step, step that needs it)

    @property
    def layers(self) -> int:
        return 1 + max((node.layer for node in self.nodes), default=-1)

    @property
    def width(self) -> int:
        """The number of nodes in the widest layer."""
        counts: dict[int, int] = {}
        for node in self.nodes:
            counts[node.layer] = counts.get(node.layer, 0) + 1
        return max(counts.values(), default=0)


def layout(definition: Mapping[str, Any]) -> Layout:
    """The layers of ``definition``'s steps; an empty layout for a definition without a list of steps."""
    steps = [step for step in definition.get("steps") or [] if isinstance(step, Mapping)]
    needs = needs_of(steps)
    edges = [(needed, step_id) for step_id, needed_ids in needs.items() for needed in needed_ids if needed in needs]
    layer: dict[str, int] = {}
    if cycle(needs) is None:  # a stored version is acyclic; guard anyway instead of looping
        for step_id in needs:
            _layer_of(step_id, needs, layer)
    positions: dict[int, int] = {}
    nodes = []
    for step in steps:
        step_id = str(step.get("id"))
        depth = layer.get(step_id, 0)
        position = positions.get(depth, 0)
        positions[depth] = position + 1
        kind = next((mark for mark in MARKS if mark in step), "step")
        label = f"{step.get('connector', '')}.{step.get('action', '')}" if "connector" in step else kind
        nodes.append(Node(step_id, depth, position, kind, label))
    return Layout(nodes, edges)


def _layer_of(step_id: str, needs: Mapping[str, list[str]], layer: dict[str, int]) -> int:
    """Longest path from a root, iteratively (deep chains must not hit the recursion limit)."""
    stack = [step_id]
    while stack:
        current = stack[-1]
        if current in layer:
            stack.pop()
            continue
        pending = [n for n in needs.get(current, []) if n in needs and n not in layer]
        if pending:
            stack.extend(pending)
            continue
        stack.pop()
        layer[current] = 1 + max((layer[n] for n in needs.get(current, []) if n in needs), default=-1)
    return layer[step_id]
