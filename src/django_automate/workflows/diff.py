"""Differences between two workflow definitions, for reviewing a new version (API and admin).

:func:`diff_definitions` lists changes by JSON path. Lists of objects that all carry a
unique ``id`` (such as ``steps``) are matched by id, so inserting a step reports one added
step (and the moves it causes), not a change of every later step. :func:`unified_diff`
gives the classic text diff of the pretty-printed JSON.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

from django_automate.workflows.references import join

if TYPE_CHECKING:
    from django_automate.models import WorkflowVersion

_MISSING: Any = object()


def diff_versions(a: WorkflowVersion, b: WorkflowVersion) -> list[dict[str, Any]]:
    """The changes from version ``a`` to version ``b`` (see :func:`diff_definitions`)."""
    return diff_definitions(a.definition, b.definition)


def diff_definitions(old: Any, new: Any) -> list[dict[str, Any]]:
    """Each change as ``{"op", "path", "old"?, "new"?}``.

    ``op`` is ``added`` (``new``), ``removed`` (``old``), ``changed`` (both) or, for an item of
    an id-keyed list that changed position, ``moved`` (``old`` and ``new`` are its indexes;
    ``path`` is its new position). Paths of items inside id-keyed lists use the new index,
    or the old one for removed items.
    """
    changes: list[dict[str, Any]] = []
    _diff(old, new, "$", changes)
    return changes


def unified_diff(old: Any, new: Any, *, old_label: str = "old", new_label: str = "new", context: int = 3) -> str:
    """A unified diff of the two values pretty-printed as JSON with sorted keys ("" when equal)."""
    lines = difflib.unified_diff(
        _pretty(old).splitlines(keepends=True),
        _pretty(new).splitlines(keepends=True),
        fromfile=old_label,
        tofile=new_label,
        n=context,
    )
    return "".join(lines)


def version_unified_diff(a: WorkflowVersion, b: WorkflowVersion) -> str:
    """:func:`unified_diff` of two versions, labelled ``v<number>``."""
    return unified_diff(a.definition, b.definition, old_label=f"v{a.number}", new_label=f"v{b.number}")


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _same(a: Any, b: Any) -> bool:
    # JSON equality: 1 and 1.0 are the same number, True and 1 are not.
    return (type(a) is type(b) and a == b) or (_is_number(a) and _is_number(b) and a == b)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _diff(old: Any, new: Any, path: str, changes: list[dict[str, Any]]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(old.keys() | new.keys()):
            here = join(path, key)
            if key not in new:
                changes.append({"op": "removed", "path": here, "old": old[key]})
            elif key not in old:
                changes.append({"op": "added", "path": here, "new": new[key]})
            else:
                _diff(old[key], new[key], here, changes)
    elif isinstance(old, list) and isinstance(new, list):
        if _keyed(old) and _keyed(new):
            _diff_keyed(old, new, path, changes)
        else:
            for index in range(max(len(old), len(new))):
                here = join(path, index)
                if index >= len(new):
                    changes.append({"op": "removed", "path": here, "old": old[index]})
                elif index >= len(old):
                    changes.append({"op": "added", "path": here, "new": new[index]})
                else:
                    _diff(old[index], new[index], here, changes)
    elif not _same(old, new):
        changes.append({"op": "changed", "path": path, "old": old, "new": new})


def _keyed(items: list[Any]) -> bool:
    ids = [item.get("id") for item in items if isinstance(item, dict)]
    return bool(items) and len(ids) == len(items) and all(isinstance(i, str) for i in ids) and len(set(ids)) == len(ids)


def _diff_keyed(old: list[dict[str, Any]], new: list[dict[str, Any]], path: str, changes: list[dict[str, Any]]) -> None:
    old_index = {item["id"]: index for index, item in enumerate(old)}
    new_ids = {item["id"] for item in new}
    for index, item in enumerate(old):
        if item["id"] not in new_ids:
            changes.append({"op": "removed", "path": join(path, index), "old": item})
    # Moved items are those outside the longest common subsequence of the kept ids: an
    # insertion or removal that merely shifts the items after it moves nothing.
    kept_old = [item["id"] for item in old if item["id"] in new_ids]
    kept_new = [item["id"] for item in new if item["id"] in old_index]
    matcher = difflib.SequenceMatcher(a=kept_old, b=kept_new, autojunk=False)
    stable = {kept_old[block.a + k] for block in matcher.get_matching_blocks() for k in range(block.size)}
    moved = set(kept_old) - stable
    for index, item in enumerate(new):
        here = join(path, index)
        before = old_index.get(item["id"], _MISSING)
        if before is _MISSING:
            changes.append({"op": "added", "path": here, "new": item})
            continue
        if item["id"] in moved:
            changes.append({"op": "moved", "path": here, "old": before, "new": index})
        _diff(old[before], item, here, changes)
