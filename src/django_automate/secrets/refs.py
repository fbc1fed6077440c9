"""Parsing and resolving ``$secret:NAME`` references through the configured backends."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

from django_automate import conf, exceptions
from django_automate.policy import masking
from django_automate.secrets import backends
from django_automate.secrets.backends import env_var_name

__all__ = ["SECRET_REF", "Resolver", "SecretNotFound", "env_var_name", "find_refs", "resolve_name"]

SECRET_REF = re.compile(r"\$secret:([A-Za-z0-9_./-]+)")
NAME_RE = re.compile(r"^[A-Za-z0-9_./-]{1,200}$")


class SecretNotFound(exceptions.AutomateError):
    """A referenced secret is not defined in any backend."""

    code = "secret_not_found"
    status = 400


def find_refs(value: Any) -> set[str]:
    """Names of every secret referenced anywhere inside the strings of a JSON-like value."""
    if isinstance(value, str):
        return set(SECRET_REF.findall(value))
    if isinstance(value, dict):
        return set().union(*(find_refs(v) for v in value.values())) if value else set()
    if isinstance(value, (list, tuple)):
        return set().union(*(find_refs(v) for v in value)) if value else set()
    return set()


def resolve_name(name: str, *, tenant: str = "", using: str = "default") -> str:
    """The value of secret ``name`` for ``tenant``; fails closed.

    The operator (tenant ``""``) asks every backend in order. A tenant gets its own database
    secret, else the operator's only when ``name`` is in ``AUTOMATE["SHARED_SECRETS"]``;
    otherwise the answer is the same ``secret_not_found`` as for a name nobody defined.
    """
    if tenant:
        value = backends.from_database(name, tenant, using)
        if value is not None:
            return value
        if name not in conf.shared_secrets():
            raise SecretNotFound(f"Secret {name!r} is not defined.", details={"secret": name})
    for backend in backends.BACKENDS:
        value = backend(name, "", using)
        if value is not None:
            return value
    raise SecretNotFound(f"Secret {name!r} is not defined.", details={"secret": name})


class Resolver:
    """Resolves references and remembers every value it produced, so they can be masked later.

    Only text written by whoever owns ``tenant``'s definitions may be resolved (a step's
    literal text, an endpoint's SecretRefs): never data an event or a connector brought in.
    """

    def __init__(self, *, tenant: str = "", using: str = "default") -> None:
        self.tenant = tenant
        self.using = using
        self.values: set[str] = set()

    def resolve_string(self, text: str) -> str:
        def replace(match: re.Match[str]) -> str:
            value = resolve_name(match.group(1), tenant=self.tenant, using=self.using)
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

    @contextlib.contextmanager
    def masking_scope(self) -> Iterator[set[str]]:
        """Mask the values resolved inside (and before) this block in every log record created meanwhile."""
        with masking.scope(self.values) as values:
            yield values
