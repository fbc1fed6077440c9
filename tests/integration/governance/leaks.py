"""Looking for a secret everywhere: every table of a database, in every form it could take.

Reusable by any test that has to prove a value never got stored (or logged, or returned).
"""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import quote, quote_plus

from django.db import connections


def secret_forms(secret: str) -> dict[str, str]:
    """Name → text of each form a leak may take (raw, base64, URL-encoded, JSON-escaped, hex)."""
    raw = secret.encode()
    return {
        "raw": secret,
        "base64": base64.b64encode(raw).decode(),
        "base64 unpadded": base64.b64encode(raw).decode().rstrip("="),
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "url-encoded": quote(secret, safe=""),
        "url-encoded path": quote(secret),
        "url-encoded form": quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1],
        "json-escaped utf-8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "hex": raw.hex(),
    }


# Forms whose letter case can change on the way (hostnames, percent-escapes, hex digits).
CASE_INSENSITIVE = {"raw", "url-encoded", "url-encoded path", "url-encoded form", "json-escaped", "hex"}


def leaked_forms(text: str, secret: str) -> list[str]:
    """The names of the forms of ``secret`` that occur in ``text`` (empty: no leak)."""
    lowered = text.lower()
    found = []
    for name, form in secret_forms(secret).items():
        haystack, needle = (lowered, form.lower()) if name in CASE_INSENSITIVE else (text, form)
        if needle in haystack:
            found.append(name)
    return found


def _text(value: Any) -> str:
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return "" if value is None else str(value)


def dump_database(using: str = "default") -> str:
    """Every row of every table (Django's and anyone else's), one line per row."""
    connection = connections[using]
    lines = []
    with connection.cursor() as cursor:
        for table in sorted(connection.introspection.table_names(cursor)):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                lines.append(table + "\t" + "\t".join(_text(value) for value in row))
    return "\n".join(lines)


def leaks_in_database(secret: str, using: str = "default") -> dict[str, list[str]]:
    """``{table: [forms found]}`` for each table whose rows contain a form of ``secret``."""
    found: dict[str, list[str]] = {}
    for line in dump_database(using).splitlines():
        table = line.split("\t", 1)[0]
        forms = leaked_forms(line, secret)
        if forms:
            found[table] = sorted(set(found.get(table, [])) | set(forms))
    return found
