"""Path-substitution templating: ``{{ event.payload.id }}``, ``{{ steps.x.output.y | default("n/a") }}``.

Deliberately not a template language: a placeholder is a dotted path into plain JSON data
(dicts and lists), optionally followed by ``| default(<JSON literal>)``. Nothing can reach a
Python attribute, call a function, loop or compute; computed values use ``{"$logic": …}``
(the JSON Logic engine, which is bounded in the same way). Parsing is a single linear scan,
so hostile strings cannot make it backtrack, and rendered text is capped while it is built.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django_automate import exceptions
from django_automate.internal.paths import MISSING, lookup

#: The names a placeholder may start with (see docs/workflows.md).
ROOTS = frozenset({"event", "steps", "run", "trace_id"})
#: Longest text between ``{{`` and ``}}``.
MAX_EXPRESSION_CHARS = 1024
#: Longest text one string may render to.
MAX_OUTPUT_CHARS = 1024 * 1024
#: Deepest nesting of lists and objects :func:`render` walks.
MAX_DEPTH = 64

_SEGMENT = r"[A-Za-z0-9_\-]+"
_EXPRESSION = re.compile(
    r"\s*(?P<path>[A-Za-z_][A-Za-z0-9_]*(?:\." + _SEGMENT + r")*)\s*"
    r"(?:\|\s*default\s*\((?P<default>.*)\)\s*)?",
    re.DOTALL,
)


class TemplateError(exceptions.ValidationError):
    """A template could not be rendered."""


@dataclass(frozen=True)
class Placeholder:
    """One ``{{ path | default(...) }}`` found in a string, at ``template[start:end]``."""

    path: str
    default: Any  # MISSING when there is none
    start: int
    end: int

    @property
    def root(self) -> str:
        return self.path.split(".", 1)[0]


def _reject(message: str, expression: str) -> TemplateError:
    return TemplateError(message, details={"expression": expression[:200]})


def _parse_default(raw: str, path: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        raise TemplateError(
            f'The default for {path!r} must be a JSON literal, e.g. default("n/a").', details={"path": path}
        ) from exc


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_expression(expression: str) -> tuple[str, Any]:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise _reject(f"A placeholder is longer than {MAX_EXPRESSION_CHARS} characters.", expression)
    match = _EXPRESSION.fullmatch(expression)
    if match is None:
        raise _reject(
            f"Unsupported template expression {{{{{expression[:200]}}}}}: only a dotted path, optionally "
            "followed by | default(<JSON literal>), is allowed.",
            expression,
        )
    path = match.group("path")
    if any(part.startswith("__") and part.endswith("__") for part in path.split(".")):
        raise _reject(f"{path!r}: names with double underscores on both sides are not allowed.", expression)
    raw_default = match.group("default")
    return path, MISSING if raw_default is None else _parse_default(raw_default, path)


def placeholders(template: str) -> Iterator[Placeholder]:
    """Yield the placeholders of ``template`` in order; raise :class:`TemplateError` at the first bad one.

    Any ``{{`` starts a placeholder, which ends at the next ``}}``: an unclosed one is an
    error, so a mistyped expression never passes through as literal text.
    """
    position = 0
    while True:
        start = template.find("{{", position)
        if start < 0:
            return
        end = template.find("}}", start + 2)
        if end < 0:
            raise _reject("A placeholder opened with {{ is never closed with }}.", template[start:])
        path, default = _parse_expression(template[start + 2 : end])
        yield Placeholder(path, default, start, end + 2)
        position = end + 2


def _resolve(placeholder: Placeholder, data: dict[str, Any]) -> Any:
    value = lookup(data, placeholder.path)
    if value is MISSING:
        if placeholder.default is MISSING:
            raise TemplateError(f"{placeholder.path!r} does not exist.", details={"path": placeholder.path})
        return placeholder.default
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TemplateError("A placeholder's value is not JSON and cannot be inserted into text.") from exc


def render_string(template: str, data: dict[str, Any]) -> Any:
    """Render one string; a string that is exactly one placeholder keeps the value's JSON type."""
    if "{{" not in template:
        return template
    found = list(placeholders(template))
    if len(found) == 1 and not template[: found[0].start].strip() and not template[found[0].end :].strip():
        return _resolve(found[0], data)
    pieces: list[str] = []
    size = 0
    position = 0
    for placeholder in found:
        for piece in (template[position : placeholder.start], _as_text(_resolve(placeholder, data))):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"Rendered text exceeds {MAX_OUTPUT_CHARS} characters.")
            pieces.append(piece)
        position = placeholder.end
    tail = template[position:]
    if size + len(tail) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"Rendered text exceeds {MAX_OUTPUT_CHARS} characters.")
    pieces.append(tail)
    return "".join(pieces)


def is_logic(value: Any) -> bool:
    """Whether ``value`` is a computed value ``{"$logic": <JSON Logic>}``."""
    return type(value) is dict and len(value) == 1 and "$logic" in value


def render(value: Any, data: dict[str, Any]) -> Any:
    """Render every string inside a JSON-like value; ``{"$logic": …}`` is evaluated as JSON Logic."""
    return _render(value, data, 0)


def _render(value: Any, data: dict[str, Any], depth: int) -> Any:
    if isinstance(value, str):
        return render_string(value, data)
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise TemplateError(f"The template is nested deeper than {MAX_DEPTH} levels.")
    if isinstance(value, dict):
        if is_logic(value):
            from django_automate.rules.jsonlogic import evaluate

            return evaluate(value["$logic"], data)
        return {k: _render(v, data, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, data, depth + 1) for v in value]
    return value
