"""JavaScript-flavoured coercions used by the operators (truthiness, numbers, strings, equality).

Where the conformance suites are silent we follow what JavaScript (and json-logic-js) does.
"""

from __future__ import annotations

import json
import math
import re
from decimal import Decimal
from typing import Any

from django_automate.rules.jsonlogic.errors import not_a_number

#: Integers outside +/- 2**53 become floats, as every JavaScript number is a double; this also
#: stops a rule from growing huge Python integers.
MAX_SAFE_INTEGER = 2**53

_DECIMAL_RE = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_INTEGER_RE = re.compile(r"[+-]?[0-9]{1,15}")
_RADIX = {"0x": 16, "0X": 16, "0o": 8, "0O": 8, "0b": 2, "0B": 2}
_INFINITIES = {"Infinity": math.inf, "+Infinity": math.inf, "-Infinity": -math.inf}
_RADIX_DIGITS = {16: "0123456789abcdefABCDEF", 8: "01234567", 2: "01"}


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def truthy(value: Any) -> bool:
    """JSON Logic truthiness: ``false``, ``null``, ``0``, ``NaN``, ``""`` and ``[]`` are false; objects are true."""
    if value is True:
        return True
    if value is False or value is None:
        return False
    kind = type(value)
    if kind is str or kind is list:
        return len(value) > 0
    number: float = value
    if kind is int:
        return number != 0
    if kind is float:
        return number == number and number != 0.0  # NaN is falsy
    return True


def parse_number(text: str) -> int | float:
    """Convert a string like JavaScript's ``Number()``; raise the ``NaN`` error when it is not a number."""
    if _INTEGER_RE.fullmatch(text):
        return int(text)
    stripped = text.strip()
    if not stripped:
        return 0
    if _DECIMAL_RE.fullmatch(stripped):
        number = float(stripped)
        return int(number) if number.is_integer() and abs(number) < MAX_SAFE_INTEGER else number
    if stripped in _INFINITIES:
        return _INFINITIES[stripped]
    radix = _RADIX.get(stripped[:2])
    if radix and len(stripped) > 2 and all(ch in _RADIX_DIGITS[radix] for ch in stripped[2:]):
        return normalize_int(int(stripped[2:], radix))
    raise not_a_number(text)


def to_number(value: Any) -> int | float:
    """Convert like JavaScript's ``Number()``, except that arrays and objects are never numbers."""
    kind = type(value)
    if kind is int or kind is float:
        number: int | float = value
        return number
    if kind is bool:
        return 1 if value else 0
    if value is None:
        return 0
    if kind is str:
        return parse_number(value)
    raise not_a_number(value)


def normalize_int(value: int) -> int | float:
    """Turn an integer beyond JavaScript's safe range into a float (infinite when it is too large)."""
    if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def format_float(value: float) -> str:
    """Format a float as JavaScript's ``String(number)`` does (``1.0`` is ``"1"``, ``1e-7`` is ``"1e-7"``)."""
    if value != value:
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value.is_integer() and abs(value) < MAX_SAFE_INTEGER:
        return str(int(value))
    text = repr(value)  # the shortest digits that round-trip, as JavaScript uses
    if "e" not in text:
        return text[:-2] if text.endswith(".0") else text
    mantissa, exponent_text = text.split("e")
    exponent = int(exponent_text)
    if -7 < exponent < 21:
        return format(Decimal(text), "f")
    return f"{mantissa}e{'+' if exponent > 0 else '-'}{abs(exponent)}"


def to_str(value: Any) -> str:
    """Convert a value to a string like JavaScript's ``String()``; ``null`` becomes ``""``, objects JSON."""
    kind = type(value)
    if kind is str:
        text: str = value
        return text
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return str(value)
    if kind is float:
        return format_float(value)
    if kind is list:
        return ",".join(to_str(item) for item in value)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def loose_equals(left: Any, right: Any) -> bool:
    """``==``: strings compare as strings, otherwise both sides as numbers (``NaN`` raises)."""
    left_kind = type(left)
    right_kind = type(right)
    if left_kind is str and right_kind is str:
        same: bool = left == right
        return same
    if left is None or right is None:
        if left is right:
            return True
        other = right_kind if left is None else left_kind
        if other is str or other is list or other is dict:
            return False  # as in JavaScript, null only equals null (and, numerically, 0 and false)
    return to_number(left) == to_number(right)


def strict_equals(left: Any, right: Any) -> bool:
    """``===``: same JSON type and same value; arrays and objects compare by value."""
    left_kind = type(left)
    right_kind = type(right)
    if left_kind is right_kind:
        if left_kind is list:
            return len(left) == len(right) and all(strict_equals(a, b) for a, b in zip(left, right, strict=True))
        if left_kind is dict:
            return left.keys() == right.keys() and all(strict_equals(v, right[k]) for k, v in left.items())
        same: bool = left == right
        return same
    if (left_kind is int or left_kind is float) and (right_kind is int or right_kind is float):
        equal: bool = left == right
        return equal
    return False


def comparable(left: Any, right: Any) -> tuple[Any, Any]:
    """Operands for ``<``/``>``: two strings compare as strings, anything else as numbers."""
    if type(left) is str and type(right) is str:
        return left, right
    return to_number(left), to_number(right)


def contains(haystack: list[Any], needle: Any) -> bool:
    """Whether ``needle`` is strictly equal to an item of ``haystack`` (JavaScript's ``includes``)."""
    kind = type(needle)
    if kind is str:
        return needle in haystack
    if needle is None:
        return any(item is None for item in haystack)
    if (kind is int or kind is float) and needle not in haystack:
        return False
    return any(strict_equals(item, needle) for item in haystack)
