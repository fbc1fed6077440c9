"""System checks for connectors and their settings (ids ``automate.E030`` to ``E039``, ``W030`` to ``W039``).

The E030 to E039 ids are all taken, so the email settings use ``automate.E010`` and ``E011``.

| id | problem |
|---|---|
| E010 | ``AUTOMATE["EMAIL_BACKEND"]`` is not an import string, or is set while ``settings.MAILERS`` is used |
| E011 | ``AUTOMATE["EMAIL_MAILER"]`` is not a string, needs ``MAILERS`` (Django 6.1+), or names no mailer |
| E030 | a connector's import string (setting or entry point) cannot be imported |
| E031 | what it names is not a valid connector (no ``execute``, bad ``type``, invalid action schema…) |
| E032 | ``AUTOMATE["CONNECTORS"]`` is not a dict of ``{"type": "dotted.path.Class"}`` |
| E033 | an entry point reuses a built-in connector's name (it is ignored) |
| E034 | several entry points claim one name and no setting picks one (the name is unusable) |
| E035 | ``AUTOMATE["PYTHON_ACTIONS"]``: bad shape, bad name, cannot import, not callable, bad schema |
| E036 | ``AUTOMATE["HTTP_ALLOWLIST"]``: not a list of host patterns |
| E037 | ``AUTOMATE["HTTP_ALLOWED_NETWORKS"]``: not a list of CIDR networks |
| E038 | ``AUTOMATE["SLACK_API_BASE_URL"]`` is not an http(s) URL |
| E039 | ``HTTP_MAX_RESPONSE_BYTES`` is not a positive integer, or ``HTTP_CA_BUNDLE`` is not a file |
| W030 | a setting replaces a built-in or installed connector |
"""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.core.checks import CheckMessage, Error, Warning

from django_automate import exceptions
from django_automate.connectors import registry, ssrf
from django_automate.connectors.contract import ACTION_RE, TYPE_RE
from django_automate.connectors.schema import schema_problems

HOST_PATTERN = re.compile(
    r"^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?(:\d{1,5})?$"  # names, *.subdomains, optional :port
    r"|^\[[0-9a-f:.]+\](:\d{1,5})?$|^[0-9a-f:.]+$"  # IPv6 literals
)


def connector_messages() -> list[CheckMessage]:
    user = getattr(settings, "AUTOMATE", None) or {}
    if not isinstance(user, dict):
        return []  # automate.E001 says so already
    messages = _settings_shape(user)
    if any(m.id == "automate.E032" for m in messages):
        return messages
    messages += _registry_messages()
    messages += _python_action_messages(user.get("PYTHON_ACTIONS", {}))
    return messages


def _settings_shape(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    connectors = user.get("CONNECTORS", {})
    if not isinstance(connectors, dict) or not all(
        isinstance(k, str) and TYPE_RE.match(k) and isinstance(v, str) and v for k, v in connectors.items()
    ):
        messages.append(
            Error(
                "AUTOMATE['CONNECTORS'] must be a dict of connector type → import string.",
                hint=f'e.g. {{"crm": "myproject.connectors.CrmConnector"}}; types match {TYPE_RE.pattern}.',
                id="automate.E032",
            )
        )
    allowlist = user.get("HTTP_ALLOWLIST", [])
    if not isinstance(allowlist, (list, tuple)) or not all(
        isinstance(p, str) and HOST_PATTERN.match(p.lower()) for p in allowlist
    ):
        messages.append(
            Error(
                "AUTOMATE['HTTP_ALLOWLIST'] must be a list of host patterns.",
                hint='e.g. ["api.example.com", "*.example.org", "hooks.example.net:8443"]',
                id="automate.E036",
            )
        )
    networks = user.get("HTTP_ALLOWED_NETWORKS", [])
    if not isinstance(networks, (list, tuple)) or ssrf.parse_networks(networks):
        messages.append(
            Error(
                "AUTOMATE['HTTP_ALLOWED_NETWORKS'] must be a list of CIDR networks.",
                hint='e.g. ["10.20.0.0/16", "fd12:3456::/48"]',
                id="automate.E037",
            )
        )
    base = user.get("SLACK_API_BASE_URL", "https://slack.com/api/")
    if not isinstance(base, str) or urlsplit(base).scheme not in ("http", "https") or not urlsplit(base).hostname:
        messages.append(Error("AUTOMATE['SLACK_API_BASE_URL'] must be an http(s) URL.", id="automate.E038"))
    cap = user.get("HTTP_MAX_RESPONSE_BYTES", 1)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
        messages.append(Error("AUTOMATE['HTTP_MAX_RESPONSE_BYTES'] must be a positive integer.", id="automate.E039"))
    bundle = user.get("HTTP_CA_BUNDLE")
    if bundle is not None and not (isinstance(bundle, str) and os.path.isfile(bundle)):
        messages.append(Error("AUTOMATE['HTTP_CA_BUNDLE'] must be the path of a CA bundle file.", id="automate.E039"))
    return messages + _email_messages(user)


def _email_messages(user: dict[str, Any]) -> list[CheckMessage]:
    """The ``email`` connector's backend: ``EMAIL_MAILER`` with ``MAILERS`` (Django 6.1+), else ``EMAIL_BACKEND``."""
    messages: list[CheckMessage] = []
    backend, alias = user.get("EMAIL_BACKEND"), user.get("EMAIL_MAILER")
    with_mailers = hasattr(mail, "mailers") and hasattr(settings, "MAILERS")
    if backend is not None and not (isinstance(backend, str) and backend):
        messages.append(Error("AUTOMATE['EMAIL_BACKEND'] must be an import string or None.", id="automate.E010"))
    elif backend is not None and with_mailers:
        messages.append(
            Error(
                "AUTOMATE['EMAIL_BACKEND'] cannot be used with settings.MAILERS.",
                hint="Remove it and name a MAILERS alias in AUTOMATE['EMAIL_MAILER'] (None: 'default').",
                id="automate.E010",
            )
        )
    if alias is not None and not (isinstance(alias, str) and alias):
        messages.append(Error("AUTOMATE['EMAIL_MAILER'] must be a MAILERS alias or None.", id="automate.E011"))
    elif alias is not None and not with_mailers:
        messages.append(
            Error(
                "AUTOMATE['EMAIL_MAILER'] needs settings.MAILERS (Django 6.1+).",
                hint="Define MAILERS, or remove EMAIL_MAILER (AUTOMATE['EMAIL_BACKEND'] picks a backend class).",
                id="automate.E011",
            )
        )
    elif with_mailers and backend is None and (alias or "default") not in mail.mailers:
        messages.append(
            Error(
                f"The email connector's mailer {alias or 'default'!r} is not a key of settings.MAILERS.",
                hint="Name a MAILERS alias in AUTOMATE['EMAIL_MAILER'].",
                id="automate.E011",
            )
        )
    return messages


def _registry_messages() -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    current = registry.registry()
    for ignored, used in current.shadowed:
        messages.append(
            Error(
                f"The {ignored.origin} ({ignored.path}) reuses the name of the {used.origin}; it is ignored.",
                hint=f"Register it under another name with AUTOMATE['CONNECTORS'], e.g. {{'my_{ignored.type}': ...}}.",
                id="automate.E033",
            )
        )
    for name, regs in sorted(current.ambiguous.items()):
        messages.append(
            Error(
                f"Connector type {name!r} is claimed by several entry points: "
                + ", ".join(f"{r.origin} ({r.path})" for r in regs)
                + ".",
                hint=f"Choose one with AUTOMATE['CONNECTORS'][{name!r}] = '<import string>'.",
                id="automate.E034",
            )
        )
    eps = {r.type: r for r in registry.entry_point_registrations()}
    for name, reg in sorted(current.found.items()):
        if reg.source == "settings" and (name in registry.BUILTINS or name in eps):
            replaced = f"built-in connector {name!r}" if name in registry.BUILTINS else eps[name].origin
            messages.append(Warning(f"AUTOMATE['CONNECTORS'][{name!r}] replaces the {replaced}.", id="automate.W030"))
        try:
            registry.load(reg)
        except exceptions.ImproperlyConfigured as exc:
            is_import = exc.message.startswith("Could not import")
            messages.append(Error(exc.message, id="automate.E030" if is_import else "automate.E031"))
    return messages


def _python_action_messages(actions: Any) -> list[CheckMessage]:
    from django_automate.connectors.python import load_action

    if not isinstance(actions, dict):
        return [Error("AUTOMATE['PYTHON_ACTIONS'] must be a dict of name → import string.", id="automate.E035")]
    messages: list[CheckMessage] = []
    for name, path in actions.items():
        if not isinstance(name, str) or not ACTION_RE.match(name) or not isinstance(path, str):
            messages.append(
                Error(
                    f"AUTOMATE['PYTHON_ACTIONS'] entry {name!r} must map a name matching {ACTION_RE.pattern} "
                    "to an import string.",
                    id="automate.E035",
                )
            )
            continue
        try:
            func = load_action(name, path)
        except exceptions.ImproperlyConfigured as exc:
            messages.append(Error(exc.message, id="automate.E035"))
            continue
        schema = getattr(func, "input_schema", None)
        if schema is not None:
            for problem in schema_problems(schema):
                messages.append(Error(f"AUTOMATE['PYTHON_ACTIONS'][{name!r}]: {problem}.", id="automate.E035"))
    return messages
