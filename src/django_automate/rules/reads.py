"""Which parts of the data a JSON Logic condition reads, known before it runs.

Used to keep rule tests from becoming an oracle for redacted values: a condition that reads a
sensitive key of a stored event is refused (or audited) before it is evaluated, because its
verdict, its explanation and its errors could all reveal the value bit by bit.

The analysis is conservative. A read of ``a.b`` reads everything below ``a.b``; a path only
known at evaluation time (``{"var": {"cat": ...}}``, a dynamic ``missing``) reads everything.
Inside an iterator body (``map``, ``filter``, ``reduce``, ``all``, ``some``, ``none``) or a
``try`` fallback, reads relative to the item are covered by the read of the collection itself,
so only reads that may climb to the outer data (``val`` with ``[[n]]``) count again.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django_automate.policy.redaction import is_sensitive, sensitive_keys
from django_automate.rules.jsonlogic.nodes import is_operation
from django_automate.rules.jsonlogic.operators.data import Segment, segment, var_segments

#: Operators whose arguments after the first are evaluated with each item (or an error) as data.
SCOPED_OPERATORS = frozenset(["map", "filter", "reduce", "all", "some", "none", "try"])
_KEYS = (str, int, float, type(None))
#: One step of a path in the data: a dict key (``str``) or a list index (``int``).
Step = str | int


@dataclass(frozen=True)
class Reads:
    """What a condition reads: literal ``paths`` (from the root of the data), or ``everything``."""

    paths: frozenset[tuple[Segment, ...]]
    everything: bool


def reads(logic: Any) -> Reads:
    """The paths ``logic`` (a valid condition) may read from the data it is evaluated against."""
    paths: set[tuple[Segment, ...]] = set()
    everything = False
    for found in _walk(logic, relative=False):
        if found is None:
            everything = True
        else:
            paths.add(found)
    return Reads(frozenset(paths), everything)


def sensitive_reads(logic: Any, data: Any, found: Reads | None = None) -> list[str]:
    """The sensitive paths of ``data`` that ``logic`` reads, as ``var`` paths (``event.payload.password``).

    A path is sensitive when one of its keys is (the redaction policy decides, see
    :func:`django_automate.policy.redaction.is_sensitive`). A read of a path through a sensitive
    key counts whether or not ``data`` has it; a read of a path above a sensitive key counts when
    ``data`` has one below it. Empty when nothing sensitive is read. ``found`` is ``reads(logic)``,
    for callers that judge one condition against many events.
    """
    found = found if found is not None else reads(logic)
    keys = sensitive_keys()
    present = list(_sensitive_paths(data, (), keys))
    if found.everything:
        return sorted({_render(path) for path in present})
    hits: set[str] = set()
    for path in found.paths:
        for index, (text, _) in enumerate(path):
            if is_sensitive(text, keys):
                hits.add(".".join(text for text, _ in path[: index + 1]))
                break
        else:
            hits.update(_render(target) for target in present if _covers(path, target))
    return sorted(hits)


def _walk(node: Any, *, relative: bool) -> Iterator[tuple[Segment, ...] | None]:
    """Yield each path read from the root (``None`` for "everything"); ``relative`` inside a body."""
    if type(node) is list:
        for item in node:
            yield from _walk(item, relative=relative)
        return
    if not is_operation(node):
        return
    ((name, args),) = node.items()
    if name == "preserve":
        return
    items = args if type(args) is list else [args]
    if name == "var":
        yield from _var(items, relative)
    elif name in ("val", "exists"):
        yield from _val(args, relative)
    elif name == "missing":
        keys = _constant(args)
        if keys is not None:
            keys = keys if type(keys) is list else [keys]
            keys = keys[0] if keys and type(keys[0]) is list else keys
        yield from _keys(keys, relative)
    elif name == "missing_some" and len(items) == 2:
        yield from _keys(_constant(items[1]), relative)
        yield from _walk(items[0], relative=relative)
    elif name in SCOPED_OPERATORS:
        for index, item in enumerate(items):
            inside = relative or (index == 1 if name != "try" else index >= 1)
            yield from _walk(item, relative=inside)
        return
    yield from _walk(items, relative=relative)


def _var(items: list[Any], relative: bool) -> Iterator[tuple[Segment, ...] | None]:
    if not items:
        if not relative:
            yield ()
        return
    key = _constant(items[0])
    if key is not None or items[0] is None:
        if type(key) in _KEYS:
            if not relative:
                yield var_segments(key)
        else:
            yield None
    else:
        yield None  # computed path
    yield from _walk(items, relative=relative)


def _val(args: Any, relative: bool) -> Iterator[tuple[Segment, ...] | None]:
    value = _constant(args)
    if value is None and args is not None:
        yield None  # computed path, which may also climb scopes
        yield from _walk(args, relative=relative)
        return
    steps = value if type(value) is list else [value]
    climbs = bool(steps) and type(steps[0]) is list
    steps = steps[1:] if climbs else steps
    if not all(type(step) in _KEYS for step in steps):
        yield None
    elif climbs or not relative:
        yield tuple(segment(step) for step in steps)  # a climb may reach the root: counted from it


def _keys(keys: Any, relative: bool) -> Iterator[tuple[Segment, ...] | None]:
    if type(keys) is not list or not all(type(key) in _KEYS for key in keys):
        yield None
    elif not relative:
        yield from (var_segments(key) for key in keys)


def _constant(node: Any) -> Any:
    """The value of a literal or ``preserve`` node, else ``None``."""
    if is_operation(node):
        return node["preserve"] if "preserve" in node else None
    if type(node) is list and any(is_operation(item) for item in node):
        return None
    return node


def _sensitive_paths(data: Any, path: tuple[Step, ...], keys: tuple[str, ...]) -> Iterator[tuple[Step, ...]]:
    """Paths to every value under a sensitive key (not descending into them)."""
    if isinstance(data, dict):
        for key, value in data.items():
            if is_sensitive(str(key), keys):
                yield (*path, str(key))
            else:
                yield from _sensitive_paths(value, (*path, str(key)), keys)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _sensitive_paths(value, (*path, index), keys)


def _covers(read: tuple[Segment, ...], target: tuple[Step, ...]) -> bool:
    """Whether reading ``read`` reads ``target`` (``read`` leads to it or below it)."""
    if len(read) > len(target):
        return False
    for (text, index), step in zip(read, target, strict=False):
        if (text != step) if type(step) is str else (index != step):
            return False
    return True


def _render(path: tuple[Step, ...]) -> str:
    return ".".join(str(step) for step in path)
