"""Parsing and resolving ``$secret:NAME`` references through the configured backends."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from typing import Any

from django_automate import conf, exceptions

SECRET_REF = re.compile(r"\$secret:([A-Za-z0-9_./-]+)")


class SecretNotFound(exceptions.AutomateError):
    """A referenced secret is not defined in any backend."""

    code = "secret_not_found"
    status = 400


def env_var_name(name: str) -> str:
    """``AUTOMATE_SECRET_<NAME>``, upper-cased, every character outside ``A-Z0-9`` replaced by ``_``."""
    return "AUTOMATE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _from_env(name: str) -> str | None:
    return os.environ.get(env_var_name(name))


def _from_settings(name: str) -> str | None:
    value = conf.settings_secrets().get(name)
    return None if value is None else str(value)


BACKENDS: list[Callable[[str], str | None]] = [_from_env, _from_settings]


def resolve_name(name: str) -> str:
    for backend in BACKENDS:
        value = backend(name)
        if value is not None:
            return value
    raise SecretNotFound(f"Secret {name!r} is not defined.", details={"secret": name})


class Resolver:
    """Resolves references and remembers every value it produced, so they can be masked later."""

    def __init__(self) -> None:
        self.values: set[str] = set()

    def resolve_string(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            value = resolve_name(match.group(1))
            if value:
                self.values.add(value)
            return value

        return SECRET_REF.sub(replace, text)

    def resolve(self, value: Any) -> Any:
        """Resolve references anywhere inside strings of a JSON-like value."""
        if isinstance(value, str):
            return self.resolve_string(value) if "$secret:" in value else value
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        return value
