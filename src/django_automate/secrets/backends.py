"""Where secret values come from, asked in order: environment, Django settings, encrypted database.

The environment and the settings belong to the operator, as do database secrets of tenant
``""``; tenants own only their database secrets (see :func:`secrets.refs.resolve_name`).
"""

from __future__ import annotations

import os
import re
from typing import Protocol

from django_automate import conf


class SecretBackend(Protocol):
    """Returns the value of secret ``name`` for ``tenant``, or ``None`` if this backend does not have it."""

    def __call__(self, name: str, tenant: str, using: str) -> str | None: ...


def env_var_name(name: str) -> str:
    """``AUTOMATE_SECRET_<NAME>``, upper-cased, every character outside ``A-Z0-9`` replaced by ``_``."""
    return "AUTOMATE_SECRET_" + re.sub(r"[^A-Z0-9]", "_", name.upper())


def from_env(name: str, tenant: str, using: str) -> str | None:
    return os.environ.get(env_var_name(name))


def from_settings(name: str, tenant: str, using: str) -> str | None:
    value = conf.settings_secrets().get(name)
    return None if value is None else str(value)


def from_database(name: str, tenant: str, using: str) -> str | None:
    """The secret stored for exactly ``tenant`` (``""``: the operator's); decrypted, failing closed.

    Active only when ``ENCRYPTION_KEYS`` is set: without a key nothing stored could be read.
    """
    from django_automate.models import Secret
    from django_automate.secrets import crypto

    if not conf.encryption_keys():
        return None

    token = Secret.objects.using(using).filter(name=name, tenant=tenant).values_list("ciphertext", flat=True).first()
    return None if token is None else crypto.decrypt(token, name=name)


#: The operator's backends, asked in this order. A tenant's run asks the database for the
#: tenant's own secret first, then these only for names in ``AUTOMATE["SHARED_SECRETS"]``.
BACKENDS: list[SecretBackend] = [from_env, from_settings, from_database]
