"""Path-substitution templating: ``{{ event.payload.id }}``, ``{{ steps.x.output.y | default("n/a") }}``.

Deliberately not a template language: a placeholder is a dotted path into plain JSON data
(dicts and lists), optionally followed by ``| default(<JSON literal>)``. Nothing can reach a
Python attribute, call a function, loop or compute; computed values use ``{"$logic": …}``
(the JSON Logic engine, which is bounded in the same way). Parsing is a single linear scan,
so hostile strings cannot make it backtrack, and rendered text is capped while it is built.

``$secret:NAME`` is resolved here too (when a resolver is given), and only in the literal
text of the definition: what data brings in is never scanned for references.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django_automate import conf, exceptions
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


class SecretResolver(Protocol):
    """Replaces ``$secret:NAME`` references in text (``secrets.refs.Resolver``)."""

    def resolve_string(self, text: str) -> str: ...


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


class _Rendering:
    """One rendering of a step's input: its data, the secret resolver if any, and the JSON size so far.

    The size is counted while values are produced, so a few placeholders pointing at a large
    value stop the rendering at the limit instead of building the whole amplified input first.
    """

    def __init__(self, data: dict[str, Any], secrets: SecretResolver | None, max_bytes: int | None) -> None:
        self.data = data
        self.secrets = secrets
        self.max_bytes = max_bytes
        self.size = 0

    def charge(self, size: int, field: str) -> None:
        self.size += size
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TemplateError(
                f"The step's rendered input exceeds {self.max_bytes} bytes (MAX_STEP_INPUT_BYTES).",
                details={"field": field, "limit": self.max_bytes},
            )

    def literal(self, text: str) -> str:
        """Text written in the definition: the only place where ``$secret:NAME`` is resolved."""
        if self.secrets is not None and "$secret:" in text:
            return self.secrets.resolve_string(text)
        return text

    def value(self, value: Any, field: str) -> Any:
        """A value computed from data (placeholder or ``$logic``), inserted verbatim once checked and counted."""
        stack: list[tuple[Any, str]] = [(value, field)]
        while stack:
            item, where = stack.pop()
            if isinstance(item, str):
                self.charge(len(item.encode("utf-8", "surrogatepass")) + 2, where)
            elif isinstance(item, dict):
                self.charge(2 + sum(len(str(k).encode("utf-8", "surrogatepass")) + 4 for k in item), where)
                stack.extend((v, f"{where}.{k}") for k, v in item.items())
            elif isinstance(item, (list, tuple)):
                self.charge(2 + len(item), where)
                stack.extend((v, f"{where}[{i}]") for i, v in enumerate(item))
            elif isinstance(item, float) and not math.isfinite(item):
                raise TemplateError(
                    f"{where} is {item}, which is not a JSON number.", details={"field": where, "value": str(item)}
                )
            else:
                self.charge(len(str(item)) if isinstance(item, (int, float)) else 5, where)
        return value


def _resolve(placeholder: Placeholder, data: dict[str, Any]) -> Any:
    value = lookup(data, placeholder.path)
    if value is MISSING:
        if placeholder.default is MISSING:
            raise TemplateError(f"{placeholder.path!r} does not exist.", details={"path": placeholder.path})
        return placeholder.default
    return value


def _as_text(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise TemplateError(
            "A placeholder's value is not JSON (or holds a non-finite number) and cannot be inserted into text.",
            details={"field": field},
        ) from exc


def _render_string(template: str, rendering: _Rendering, field: str) -> Any:
    """Render one string; a string that is exactly one placeholder keeps the value's JSON type."""
    if "{{" not in template:
        text = rendering.literal(template)
        rendering.charge(len(text.encode("utf-8", "surrogatepass")) + 2, field)
        return text
    found = list(placeholders(template))
    if len(found) == 1 and not template[: found[0].start].strip() and not template[found[0].end :].strip():
        return rendering.value(_resolve(found[0], rendering.data), field)
    pieces: list[str] = []
    size = 0
    position = 0
    for placeholder in found:
        value = _as_text(_resolve(placeholder, rendering.data), field)
        for piece in (rendering.literal(template[position : placeholder.start]), value):
            size += len(piece)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"Rendered text exceeds {MAX_OUTPUT_CHARS} characters.", details={"field": field})
            rendering.charge(len(piece.encode("utf-8", "surrogatepass")), field)
            pieces.append(piece)
        position = placeholder.end
    tail = rendering.literal(template[position:])
    if size + len(tail) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"Rendered text exceeds {MAX_OUTPUT_CHARS} characters.", details={"field": field})
    rendering.charge(len(tail.encode("utf-8", "surrogatepass")) + 2, field)
    pieces.append(tail)
    return "".join(pieces)


def render_string(template: str, data: dict[str, Any]) -> Any:
    """Render one string; a string that is exactly one placeholder keeps the value's JSON type."""
    return _render_string(template, _Rendering(data, None, None), "with")


def is_logic(value: Any) -> bool:
    """Whether ``value`` is a computed value ``{"$logic": <JSON Logic>}``."""
    return type(value) is dict and len(value) == 1 and "$logic" in value


def render(
    value: Any, data: dict[str, Any], secrets: SecretResolver | None = None, *, max_bytes: int | None = None
) -> Any:
    """Render every string inside a step's ``with``; ``{"$logic": …}`` is evaluated as JSON Logic.

    With ``secrets``, ``$secret:NAME`` references are resolved, but only where written
    literally in the definition (the text outside placeholders): values that come from data
    (placeholders, their defaults, ``$logic`` results) are inserted verbatim and never scanned,
    so an event cannot ask for a secret. The rendered input is capped at ``max_bytes`` of JSON
    (default: the ``MAX_STEP_INPUT_BYTES`` setting), counted while it is built.
    """
    if max_bytes is None:
        max_bytes = conf.max_step_input_bytes()
    return _render(value, _Rendering(data, secrets, max_bytes), 0, "with")


def _render(value: Any, rendering: _Rendering, depth: int, field: str) -> Any:
    if isinstance(value, str):
        return _render_string(value, rendering, field)
    if isinstance(value, (dict, list)) and depth >= MAX_DEPTH:
        raise TemplateError(f"The template is nested deeper than {MAX_DEPTH} levels.", details={"field": field})
    if isinstance(value, dict):
        if is_logic(value):
            from django_automate.rules.jsonlogic import evaluate

            try:
                result = evaluate(value["$logic"], rendering.data)
            except exceptions.AutomateError as exc:
                exc.details = {**(exc.details or {}), "field": field}  # which value of the step failed
                raise
            return rendering.value(result, field)
        rendering.charge(2 + sum(len(str(k).encode("utf-8", "surrogatepass")) + 4 for k in value), field)
        return {k: _render(v, rendering, depth + 1, f"{field}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        rendering.charge(2 + len(value), field)
        return [_render(v, rendering, depth + 1, f"{field}[{i}]") for i, v in enumerate(value)]
    return rendering.value(value, field)
