"""Connector lookup: built-ins, ``AUTOMATE["CONNECTORS"]`` import strings and entry points."""

from __future__ import annotations

import functools
from importlib.metadata import entry_points

from django.utils.module_loading import import_string

from django_automate import conf, exceptions
from django_automate.connectors.base import BaseConnector

BUILTINS = {
    "http": "django_automate.connectors.http.HttpConnector",
    "log": "django_automate.connectors.log.LogConnector",
}
ENTRY_POINT_GROUP = "django_automate.connectors"


def import_strings() -> dict[str, str]:
    """Connector type → import string; settings override entry points, which override built-ins."""
    found = dict(BUILTINS)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = ep.value.replace(":", ".")
    found.update(conf.connectors())
    return found


@functools.lru_cache(maxsize=64)
def _load(type_: str, path: str) -> BaseConnector:
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise exceptions.ImproperlyConfigured(
            f"Could not import {path!r} for AUTOMATE['CONNECTORS'][{type_!r}]: {exc}."
        ) from exc
    connector = cls()
    if not isinstance(connector, BaseConnector) and not callable(getattr(connector, "execute", None)):
        raise exceptions.ImproperlyConfigured(f"{path!r} is not a connector (it has no execute()).")
    return connector


def get_connector(type_: str) -> BaseConnector:
    path = import_strings().get(type_)
    if path is None:
        raise exceptions.ValidationError(f"Unknown connector {type_!r}.", details={"connector": type_})
    return _load(type_, path)
