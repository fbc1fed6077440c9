"""System checks for the metrics and health settings (ids ``automate.E070`` to ``E079``, ``W070`` to ``W079``)."""

from __future__ import annotations

import ipaddress
import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning

from django_automate import conf
from django_automate.observability import metrics

DOCS = "See docs/observability.md."


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def _setting(user: dict[str, Any], key: str) -> Any:
    return user.get(key, conf.DEFAULTS[key])


def _metrics_messages(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    token = _setting(user, "METRICS_TOKEN")
    if token is not None and (not isinstance(token, str) or not token.strip()):
        messages.append(
            Error("AUTOMATE['METRICS_TOKEN'] must be a non-empty string or None.", hint=DOCS, id="automate.E070")
        )
    elif isinstance(token, str) and "$secret:" not in token and len(token) < 16:
        messages.append(
            Warning(
                "AUTOMATE['METRICS_TOKEN'] is shorter than 16 characters.",
                hint="Use a long random token, e.g. from a secret: '$secret:METRICS_TOKEN'.",
                id="automate.W071",
            )
        )
    networks = _setting(user, "METRICS_ALLOWED_NETWORKS")
    bad = [networks] if not isinstance(networks, (list, tuple)) else []
    for network in networks if not bad else []:
        try:
            ipaddress.ip_network(str(network), strict=False)
        except ValueError:
            bad.append(network)
    if bad:
        messages.append(
            Error(
                f"AUTOMATE['METRICS_ALLOWED_NETWORKS'] has invalid entries: {', '.join(map(repr, bad))}.",
                hint="Give a list of networks such as ['10.0.0.0/8', '127.0.0.1/32', '::1/128'].",
                id="automate.E071",
            )
        )
    if not isinstance(_setting(user, "METRICS_ROW_COUNTS"), bool):
        messages.append(Error("AUTOMATE['METRICS_ROW_COUNTS'] must be True or False.", id="automate.E073"))
    if (token or networks) and not metrics.available():
        messages.append(
            Warning(
                "Metrics access is configured but prometheus-client is not installed; metrics/ answers 404.",
                hint="pip install 'django-automate[prometheus]'.",
                id="automate.W070",
            )
        )
    directory = metrics.multiprocess_dir()
    if directory and metrics.available() and not (os.path.isdir(directory) and os.access(directory, os.W_OK)):
        messages.append(
            Error(
                f"PROMETHEUS_MULTIPROC_DIR is {directory!r}, which is not a writable directory.",
                hint="Create it (empty) before the processes start, and wipe it on every deploy.",
                id="automate.E074",
            )
        )
    return messages


def _health_messages(user: dict[str, Any]) -> list[CheckMessage]:
    messages: list[CheckMessage] = []
    if not _positive(_setting(user, "HEALTH_MAX_OUTBOX_LAG_SECONDS")):
        messages.append(
            Error("AUTOMATE['HEALTH_MAX_OUTBOX_LAG_SECONDS'] must be a positive number.", hint=DOCS, id="automate.E072")
        )
    stale = _setting(user, "HEALTH_WORKER_STALE_SECONDS")
    if stale is not None and not _positive(stale):
        messages.append(
            Error(
                "AUTOMATE['HEALTH_WORKER_STALE_SECONDS'] must be a positive number or None.",
                hint=DOCS,
                id="automate.E072",
            )
        )
    elif stale is not None and _positive(_setting(user, "LEASE_SECONDS")) and stale < _setting(user, "LEASE_SECONDS"):
        messages.append(
            Warning(
                "AUTOMATE['HEALTH_WORKER_STALE_SECONDS'] is shorter than LEASE_SECONDS; busy workers would look gone.",
                hint="Leave it unset (twice LEASE_SECONDS) or make it at least LEASE_SECONDS.",
                id="automate.W072",
            )
        )
    return messages


def observability_messages() -> list[CheckMessage]:
    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return []  # automate.E001 reports it
    return [*_metrics_messages(user), *_health_messages(user)]
