"""Reading the data: ``var``, ``val``, ``exists``, ``missing``, ``missing_some``.

Lookups only index dicts (by string key) and lists (by integer index): no attribute access,
so a rule can never reach Python internals whatever object it is given.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from django_automate.rules.jsonlogic.coercion import json_type, to_number, to_str
from django_automate.rules.jsonlogic.errors import invalid_arguments
from django_automate.rules.jsonlogic.limits import Context
from django_automate.rules.jsonlogic.nodes import Fn, Path
from django_automate.rules.jsonlogic.operators.registry import operator

if TYPE_CHECKING:
    from django_automate.rules.jsonlogic.compiler import Compiler

#: Returned by lookups for an absent key (as opposed to a present ``null``).
MISSING: Any = object()

Segment = tuple[str, int | None]


def segment(key: Any) -> Segment:
    """Prepare one path step: the dict key and, when it is a non-negative integer, the list index."""
    if type(key) is int and key >= 0:
        return str(key), key
    text = to_str(key)
    return text, int(text) if text.isascii() and text.isdigit() else None


def lookup(data: Any, segments: tuple[Segment, ...]) -> Any:
    """Follow ``segments`` from ``data``; :data:`MISSING` when a step does not exist."""
    for key, index in segments:
        kind = type(data)
        if kind is dict or (kind is not list and isinstance(data, dict)):
            data = data.get(key, MISSING)
            if data is MISSING:
                return MISSING
        elif kind is list:
            if index is None or index >= len(data):
                return MISSING
            data = data[index]
        else:
            return MISSING
    return data


def var_segments(path: Any) -> tuple[Segment, ...]:
    """Split a ``var`` path (``"a.b.0"``); ``""`` and ``null`` mean the whole data."""
    if path is None or path == "":
        return ()
    if type(path) is int:
        return (segment(path),)
    return tuple(segment(part) for part in to_str(path).split("."))


@lru_cache(maxsize=4096)
def _cached_segments(path: Any) -> tuple[Segment, ...]:
    return var_segments(path)


def cached_segments(path: Any) -> tuple[Segment, ...]:
    """:func:`var_segments` for paths computed at evaluation time, memoised (they repeat)."""
    if type(path) is str or type(path) is int:
        return _cached_segments(path)
    return var_segments(path)


def _var_fn(segments: tuple[Segment, ...], default: Fn | None) -> Fn:
    if not segments:
        return lambda data, context: data
    if len(segments) == 1 and default is None:
        key = segments[0][0]

        def var_key(data: Any, context: Context | None) -> Any:
            if type(data) is dict:
                return data.get(key)
            value = lookup(data, segments)
            return None if value is MISSING else value

        return var_key

    def var_path(data: Any, context: Context | None) -> Any:
        value = lookup(data, segments)
        if value is MISSING:
            return default(data, context) if default is not None else None
        return value

    return var_path


@operator("var")
def compile_var(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``{"var": "a.b"}`` or ``{"var": ["a.b", default]}``; the default applies to absent keys."""
    items = compiler.args_list(args, path, 0, 2) if type(args) is list else [args]
    if not items:
        return lambda data, context: data
    default = compiler.node(items[1], (*path, 1)) if len(items) > 1 else None
    is_constant, key = compiler.constant(items[0])
    if is_constant and (key is None or type(key) in (str, int, float)):
        return _var_fn(var_segments(key), default)
    key_fn = compiler.node(items[0], (*path, 0) if type(args) is list else path)

    def var_dynamic(data: Any, context: Context | None) -> Any:
        value = lookup(data, cached_segments(key_fn(data, context)))
        if value is MISSING:
            return default(data, context) if default is not None else None
        return value

    return var_dynamic


def _scope(data: Any, context: Context | None, levels: int) -> Any:
    """The data ``levels`` scopes up (``[[1]]`` is the enclosing iterator's metadata)."""
    if not levels or context is None or len(context) == 1:
        return data
    return context[-levels] if levels < len(context) else context[1]


def _val_path(compiler: Compiler, args: Any, path: Path) -> tuple[int, tuple[Segment, ...]] | None:
    """Pre-compute a literal ``val`` path: ``(levels to climb, segments)``; ``None`` if dynamic."""
    is_constant, value = compiler.constant(args)
    if not is_constant:
        return None
    items = value if type(value) is list else [value]
    levels = 0
    if items and type(items[0]) is list:
        scope = items[0]
        if len(scope) != 1 or type(scope[0]) is not int:
            raise compiler.invalid("a scope must be written [n] with an integer n.", (*path, 0))
        levels, items = abs(scope[0]), items[1:]
    for index, item in enumerate(items):
        if not (item is None or type(item) in (str, int, float)):
            raise compiler.invalid(f"path steps must be strings or numbers, not {json_type(item)}.", (*path, index))
    return levels, tuple(segment(item) for item in items)


def _dynamic_segments(value: Any) -> tuple[int, tuple[Segment, ...]]:
    items = value if type(value) is list else [value]
    levels = 0
    if items and type(items[0]) is list:
        if len(items[0]) != 1 or type(items[0][0]) is not int:
            raise invalid_arguments("a scope must be written [n] with an integer n.")
        levels, items = abs(items[0][0]), items[1:]
    for item in items:
        if not (item is None or type(item) in (str, int, float)):
            raise invalid_arguments(f"path steps must be strings or numbers, not {json_type(item)}.")
    return levels, tuple(segment(item) for item in items)


def _path_operator(compiler: Compiler, args: Any, path: Path, exists: bool) -> Fn:
    static = _val_path(compiler, args, path)
    if static is None:
        compiler.scope_uses += 1  # a dynamic path may climb scopes
        source = compiler.node(args, path) if type(args) is not list else compiler.array(compiler.nodes(args, path))

        def dynamic(data: Any, context: Context | None) -> Any:
            levels, segments = _dynamic_segments(source(data, context))
            value = lookup(_scope(data, context, levels), segments)
            if exists:
                return value is not MISSING
            return None if value is MISSING else value

        return dynamic
    levels, segments = static
    if levels:
        compiler.scope_uses += 1
    if exists:
        if levels:
            return lambda data, context: lookup(_scope(data, context, levels), segments) is not MISSING
        return lambda data, context: lookup(data, segments) is not MISSING
    if levels:

        def val_scoped(data: Any, context: Context | None) -> Any:
            value = lookup(_scope(data, context, levels), segments)
            return None if value is MISSING else value

        return val_scoped
    if not segments:
        return lambda data, context: data
    if len(segments) == 1:
        key = segments[0][0]

        def val_key(data: Any, context: Context | None) -> Any:
            if type(data) is dict:
                return data.get(key)
            value = lookup(data, segments)
            return None if value is MISSING else value

        return val_key

    def val_path(data: Any, context: Context | None) -> Any:
        value = lookup(data, segments)
        return None if value is MISSING else value

    return val_path


@operator("val")
def compile_val(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``{"val": "key"}``, ``{"val": ["a", 0, "b"]}`` (no dot splitting), ``{"val": [[n], ...]}`` climbs scopes."""
    return _path_operator(compiler, args, path, exists=False)


@operator("exists")
def compile_exists(compiler: Compiler, args: Any, path: Path) -> Fn:
    """Whether the ``val``-style path exists in the data (even when its value is ``null``)."""
    return _path_operator(compiler, args, path, exists=True)


def _missing(data: Any, keys: list[Any]) -> list[Any]:
    absent = []
    for key in keys:
        value = lookup(data, cached_segments(key))
        if value is MISSING or value is None or value == "":
            absent.append(key)
    return absent


def _absent(data: Any, keys: tuple[tuple[Any, tuple[Segment, ...]], ...]) -> list[Any]:
    absent = []
    for key, segments in keys:
        value = lookup(data, segments)
        if value is MISSING or value is None or value == "":
            absent.append(key)
    return absent


@operator("missing")
def compile_missing(compiler: Compiler, args: Any, path: Path) -> Fn:
    """The keys (``var`` paths) that are absent, ``null`` or ``""``; an array first argument is the key list."""
    is_constant, keys = compiler.constant(args)
    if is_constant:
        keys = keys if type(keys) is list else [keys]
        if keys and type(keys[0]) is list:
            keys = keys[0]
        if all(key is None or type(key) in (str, int, float) for key in keys):
            prepared = tuple((key, var_segments(key)) for key in keys)
            return lambda data, context: _absent(data, prepared)
    fns, dynamic = compiler.spread(args, path)
    compiler.needs_context = True
    source = dynamic if dynamic is not None else compiler.array(fns or [])
    limits = compiler.limits

    def missing(data: Any, context: Context | None) -> list[Any]:
        keys = source(data, context)
        if keys and type(keys[0]) is list:
            keys = keys[0]
        if context is not None:
            limits.charge(context, len(keys))
        return _missing(data, keys)

    return missing


@operator("missing_some")
def compile_missing_some(compiler: Compiler, args: Any, path: Path) -> Fn:
    """``[need, keys]``: ``[]`` when at least ``need`` of ``keys`` are present, else the missing ones."""
    items = compiler.args_list(args, path, 2, 2)
    need_fn = compiler.node(items[0], (*path, 0))
    is_constant, keys = compiler.constant(items[1])
    if is_constant and type(keys) is list and all(key is None or type(key) in (str, int, float) for key in keys):
        prepared = tuple((key, var_segments(key)) for key in keys)
        count = len(keys)

        def missing_some_constant(data: Any, context: Context | None) -> list[Any]:
            need = to_number(need_fn(data, context))
            absent = _absent(data, prepared)
            return [] if count - len(absent) >= need else absent

        return missing_some_constant
    keys_fn = compiler.node(items[1], (*path, 1))
    compiler.needs_context = True
    limits = compiler.limits

    def missing_some(data: Any, context: Context | None) -> list[Any]:
        need = to_number(need_fn(data, context))
        keys = keys_fn(data, context)
        if type(keys) is not list:
            raise invalid_arguments("the second argument of 'missing_some' must be an array of keys.")
        if context is not None:
            limits.charge(context, len(keys))
        absent = _missing(data, keys)
        return [] if len(keys) - len(absent) >= need else absent

    return missing_some
