"""Connector lookup: built-ins, entry points (``django_automate.connectors``) and ``AUTOMATE["CONNECTORS"]``.

Resolution is lazy (a connector's module is imported on first use) and does not depend on
import order: settings win over built-ins, built-ins over entry points. An entry point
that reuses a built-in's name is ignored, and a name claimed by two different entry points
is unusable until a setting picks one; both are reported by system checks
(``automate.E033`` / ``automate.E034``).
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from django.utils.module_loading import import_string

from django_automate import conf, exceptions
from django_automate.connectors.base import Connector
from django_automate.connectors.contract import actions_of, class_problems, describe_action
from django_automate.tracing.logging import log_extra

logger = logging.getLogger(__name__)

BUILTINS = {
    "http": "django_automate.connectors.http.HttpConnector",
    "slack": "django_automate.connectors.slack.SlackConnector",
    "email": "django_automate.connectors.email.EmailConnector",
    "python": "django_automate.connectors.python.PythonConnector",
    "log": "django_automate.connectors.log.LogConnector",
    "task": "django_automate.connectors.task.TaskConnector",
}
ENTRY_POINT_GROUP = "django_automate.connectors"


@dataclass(frozen=True)
class Registration:
    """Where a connector type comes from: ``source`` is ``builtin``, ``settings`` or ``entry_point``."""

    type: str
    path: str
    source: str
    distribution: str = ""

    @property
    def origin(self) -> str:
        if self.source == "settings":
            return f"AUTOMATE['CONNECTORS'][{self.type!r}]"
        if self.source == "entry_point":
            return f"entry point {self.type!r} of {self.distribution or 'an unknown distribution'}"
        return f"built-in connector {self.type!r}"


@dataclass(frozen=True)
class Registry:
    """The usable registrations, plus the entry points that lost a name collision."""

    found: dict[str, Registration]
    shadowed: list[tuple[Registration, Registration]]  # (ignored entry point, registration in use)
    ambiguous: dict[str, list[Registration]]  # type → competing entry points, when no setting decides


@functools.cache
def entry_point_registrations() -> tuple[Registration, ...]:
    """Installed entry points of the group (cached: call :func:`clear_cache` after changing ``sys.path``)."""
    found: dict[tuple[str, str], Registration] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(getattr(ep, "dist", None), "name", "") or ""
        reg = Registration(ep.name, ep.value.replace(":", "."), "entry_point", dist)
        found.setdefault((reg.type, reg.path), reg)  # the same distribution seen twice on sys.path is not a clash
    return tuple(sorted(found.values(), key=lambda r: (r.type, r.path)))


def registry() -> Registry:
    found = {name: Registration(name, path, "builtin") for name, path in BUILTINS.items()}
    shadowed: list[tuple[Registration, Registration]] = []
    by_name: dict[str, list[Registration]] = {}
    for reg in entry_point_registrations():
        by_name.setdefault(reg.type, []).append(reg)
    ambiguous: dict[str, list[Registration]] = {}
    settings_types = set(conf.connectors())
    for name, regs in by_name.items():
        if name in BUILTINS:
            shadowed.extend((reg, found[name]) for reg in regs)
        elif len(regs) > 1:
            if name not in settings_types:
                ambiguous[name] = regs
        else:
            found[name] = regs[0]
    for name, path in conf.connectors().items():
        found[str(name)] = Registration(str(name), str(path), "settings")
    return Registry(found, shadowed, ambiguous)


def import_strings() -> dict[str, str]:
    """Connector type → import string of every usable registration."""
    return {name: reg.path for name, reg in registry().found.items()}


_lock = threading.Lock()
_instances: dict[tuple[str, str], Connector] = {}


def load(reg: Registration) -> Connector:
    """Import, instantiate and check the connector of ``reg`` (once per process)."""
    key = (reg.type, reg.path)
    connector = _instances.get(key)
    if connector is not None:
        return connector
    try:
        cls = import_string(reg.path)
    except ImportError as exc:
        raise exceptions.ImproperlyConfigured(
            f"Could not import {reg.path!r} for {reg.origin}: {exc}.", details={"connector": reg.type}
        ) from exc
    instance, problems = class_problems(cls)
    if problems:
        raise exceptions.ImproperlyConfigured(
            f"{reg.path!r} ({reg.origin}) is not a valid connector: {'; '.join(problems)}.",
            details={"connector": reg.type, "problems": problems},
        )
    with _lock:
        return _instances.setdefault(key, instance)


def get_connector(type_: str) -> Connector:
    """The connector instance for ``type_``; instances are shared, so connectors must be thread-safe."""
    current = registry()
    reg = current.found.get(type_)
    if reg is None:
        if type_ in current.ambiguous:
            names = ", ".join(r.origin for r in current.ambiguous[type_])
            raise exceptions.ImproperlyConfigured(
                f"Connector type {type_!r} is provided by several entry points ({names}); "
                f"choose one with AUTOMATE['CONNECTORS'][{type_!r}].",
                details={"connector": type_},
            )
        raise exceptions.ValidationError(f"Unknown connector {type_!r}.", details={"connector": type_})
    return load(reg)


def describe_connectors() -> list[dict[str, Any]]:
    """Every connector type with its description and actions (name, description, input JSON Schema).

    A connector that cannot be loaded is listed with an ``error`` and no actions, so a
    listing never fails because of one broken plugin.
    """
    described = []
    for name, reg in sorted(registry().found.items()):
        entry: dict[str, Any] = {"type": name, "source": reg.source, "description": "", "actions": []}
        try:
            connector = load(reg)
            entry["description"] = _description(connector)
            entry["actions"] = [describe_action(a) for _, a in sorted(actions_of(connector).items())]
        except exceptions.AutomateError as exc:
            logger.warning(
                "Connector %s is unavailable: %s", name, exc.message, extra=log_extra("connector_unavailable")
            )
            entry["error"] = exc.message
        described.append(entry)
    return described


def _description(connector: Connector) -> str:
    text = getattr(connector, "description", "") or (type(connector).__doc__ or "")
    return str(text).strip().split("\n\n")[0].replace("\n", " ")


def clear_cache() -> None:
    """Forget discovered entry points and loaded connectors (tests, or after installing a plugin)."""
    entry_point_registrations.cache_clear()
    with _lock:
        _instances.clear()
