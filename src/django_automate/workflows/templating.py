"""Path-substitution templating: ``{{ event.payload.id }}``, ``{{ steps.x.output.y | default("n/a") }}``.

Deliberately not a template language: a placeholder is a dotted path into plain JSON
data (dicts and lists), optionally with a JSON literal default. Nothing can reach a
Python attribute, call a function or loop. Computed values use ``{"$logic": …}``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django_automate import exceptions
from django_automate.internal.paths import MISSING, lookup

_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_\-]+)*"
_PLACEHOLDER = re.compile(r"\{\{\s*(" + _PATH + r")\s*(?:\|\s*default\(\s*(.*?)\s*\)\s*)?\}\}")
_ANY_BRACES = re.compile(r"\{\{.*?\}\}", re.DOTALL)
MAX_OUTPUT_CHARS = 1024 * 1024


class TemplateError(exceptions.ValidationError):
    """A template could not be rendered."""


def _default(raw: str | None, path: str) -> Any:
    if raw is None:
        return MISSING
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise TemplateError(
            f'The default for {path!r} must be a JSON literal, e.g. default("n/a").', details={"path": path}
        ) from exc


def _resolve(match: re.Match[str], data: dict[str, Any]) -> Any:
    path, raw_default = match.group(1), match.group(2)
    value = lookup(data, path)
    if value is MISSING:
        value = _default(raw_default, path)
        if value is MISSING:
            raise TemplateError(f"{path!r} does not exist.", details={"path": path})
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def render_string(template: str, data: dict[str, Any]) -> Any:
    """Render one string; a string that is exactly one placeholder keeps the value's JSON type."""
    if "{{" not in template:
        return template
    for expression in _ANY_BRACES.finditer(template):
        if not _PLACEHOLDER.fullmatch(expression.group()):
            raise TemplateError(
                f"Unsupported template expression {expression.group()[:200]!r}: only dotted paths are allowed.",
                details={"expression": expression.group()[:200]},
            )
    whole = _PLACEHOLDER.fullmatch(template.strip())
    if whole:
        return _resolve(whole, data)
    rendered = _PLACEHOLDER.sub(lambda m: _as_text(_resolve(m, data)), template)
    if len(rendered) > MAX_OUTPUT_CHARS:
        raise TemplateError(f"Rendered text exceeds {MAX_OUTPUT_CHARS} characters.")
    return rendered


def render(value: Any, data: dict[str, Any]) -> Any:
    """Render every string inside a JSON-like value; ``{"$logic": …}`` is evaluated as JSON Logic."""
    if isinstance(value, str):
        return render_string(value, data)
    if isinstance(value, dict):
        if set(value) == {"$logic"}:
            from django_automate.rules.jsonlogic import evaluate

            return evaluate(value["$logic"], data)
        return {k: render(v, data) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, data) for v in value]
    return value
