"""Helpers of the JSON Logic tests: where the conformance suites live, and JSON comparison."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()


def repo_root() -> Path:
    """The directory holding pyproject.toml (``tests/unit/rules`` is three levels below it)."""
    for parent in HERE.parents:
        if (parent / "pyproject.toml").is_file():
            return parent
    return HERE.parents[3]


#: The shared conformance suites, beside the repository: ``<repo>/../shared/conformance/jsonlogic/suites``.
SUITES_DIR = repo_root().parent / "shared" / "conformance" / "jsonlogic" / "suites"


def load_suites() -> list[tuple[str, dict[str, Any]]]:
    """Every case as ``(id, case)`` in ``index.json`` order; ``[]`` when the folder is missing."""
    index = SUITES_DIR / "index.json"
    if not index.is_file():
        return []
    cases: list[tuple[str, dict[str, Any]]] = []
    for name in json.loads(index.read_text()):
        entries = json.loads((SUITES_DIR / name).read_text())
        numbered = enumerate((entry for entry in entries if isinstance(entry, dict)), 1)
        cases.extend((f"{name}:{number}", case) for number, case in numbered)
    return cases


def same_json(actual: Any, expected: Any, tolerance: float = 1e-10) -> bool:
    """JSON equality where numbers compare with ``tolerance`` and booleans are not numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return math.isclose(actual, expected, rel_tol=tolerance, abs_tol=tolerance)
    if isinstance(expected, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(expected)
            and all(same_json(a, b, tolerance) for a, b in zip(actual, expected, strict=True))
        )
    if isinstance(expected, dict):
        return (
            isinstance(actual, dict)
            and actual.keys() == expected.keys()
            and all(same_json(actual[key], value, tolerance) for key, value in expected.items())
        )
    return type(actual) is type(expected) and actual == expected
