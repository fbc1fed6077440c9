"""Typed, lazy accessors for the ``AUTOMATE`` settings dict.

Each accessor reads ``settings.AUTOMATE`` at call time, so ``override_settings`` works.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    "EXECUTION_BACKEND": "database",
    "CONNECTORS": {},
    "PYTHON_ACTIONS": {},
    "SECRETS": {},
    "ENCRYPTION_KEYS": [],
    "TRACK_MODELS": [],
    "IDEMPOTENCY_RETENTION_HOURS": 72,
    "LEASE_SECONDS": 60,
    "HEARTBEAT_SECONDS": 15,
    "POLL_INTERVAL_SECONDS": 1.0,
    "LISTEN_POLL_SECONDS": 10.0,
    "WORKER_BATCH_SIZE": 10,
    "MAX_JOB_CRASHES": 20,
    "DEFAULT_MAX_ATTEMPTS": 3,
    "DEFAULT_STEP_TIMEOUT_SECONDS": 30,
    "JSON_MAX_DEPTH": 64,
    "HTTP_ALLOW_PRIVATE_NETWORKS": False,
    "HTTP_MAX_RESPONSE_BYTES": 1024 * 1024,
    "HTTP_ALLOWLIST": [],
    "HTTP_ALLOWED_NETWORKS": [],
    "HTTP_CA_BUNDLE": None,
    "SLACK_API_BASE_URL": "https://slack.com/api/",
    "EMAIL_BACKEND": None,
    "EMAIL_MAILER": None,
    "EMAIL_FROM": None,
    "EMAIL_MESSAGE_ID_DOMAIN": None,
    "REDACT_KEYS": [],
    # Webhooks (docs/webhooks.md)
    "WEBHOOK_RATE_LIMIT_CACHE": "default",
    "WEBHOOK_ENDPOINT_CACHE_SECONDS": 1.0,
    # REST API (docs/api.md)
    "TENANT_RESOLVER": None,
    "API_PAGE_SIZE": 50,
    "API_MAX_PAGE_SIZE": 500,
    "API_MAX_BODY_BYTES": 1024 * 1024,
    "API_THROTTLE_RATE": None,
    # Failed API authentication per client IP (bad or missing tokens); None turns it off.
    "API_AUTH_FAILURE_RATE": "30/minute",
    "API_CURSOR_SAFETY_SECONDS": 1.0,
    # Schedules (docs/triggers.md)
    "SCHEDULER_POLL_SECONDS": 1.0,
    "SCHEDULER_GRACE_SECONDS": 60,
    # Celery backend (docs/scaling.md)
    "CELERY_APP": None,
    "CELERY_QUEUE": None,
    "CELERY_SWEEP_INTERVAL_SECONDS": 10.0,
    "CELERY_SWEEP_AFTER_SECONDS": 60.0,
    # Observability (docs/observability.md)
    "METRICS_TOKEN": None,
    "METRICS_ALLOWED_NETWORKS": [],
    "METRICS_ROW_COUNTS": True,
    "HEALTH_MAX_OUTBOX_LAG_SECONDS": 300,
    "HEALTH_WORKER_STALE_SECONDS": None,
}

BACKENDS = ("database", "inline", "celery")


def get(name: str) -> Any:
    """Return one ``AUTOMATE`` setting, falling back to its documented default."""
    user = getattr(settings, "AUTOMATE", None) or {}
    if name in user:
        return user[name]
    return DEFAULTS[name]


def execution_backend() -> str:
    return str(get("EXECUTION_BACKEND"))


def lease_seconds() -> float:
    return float(get("LEASE_SECONDS"))


def heartbeat_seconds() -> float:
    return float(get("HEARTBEAT_SECONDS"))


def poll_interval() -> float:
    return float(get("POLL_INTERVAL_SECONDS"))


def listen_poll_seconds() -> float:
    """Longest idle wait while ``LISTEN`` is up (PostgreSQL): NOTIFY and the next due job wake earlier."""
    return float(get("LISTEN_POLL_SECONDS"))


def worker_batch_size() -> int:
    return int(get("WORKER_BATCH_SIZE"))


def default_max_attempts() -> int:
    return int(get("DEFAULT_MAX_ATTEMPTS"))


def default_step_timeout() -> float:
    return float(get("DEFAULT_STEP_TIMEOUT_SECONDS"))


def json_max_depth() -> int:
    return int(get("JSON_MAX_DEPTH"))


def idempotency_retention_hours() -> int:
    return int(get("IDEMPOTENCY_RETENTION_HOURS"))


def http_allow_private_networks() -> bool:
    return bool(get("HTTP_ALLOW_PRIVATE_NETWORKS"))


def http_max_response_bytes() -> int:
    return int(get("HTTP_MAX_RESPONSE_BYTES"))


def http_allowlist() -> list[str]:
    """Host patterns outbound HTTP may reach (``[]``: any public host)."""
    return [str(h) for h in get("HTTP_ALLOWLIST") or []]


def http_allowed_networks() -> list[str]:
    """CIDR networks the SSRF guard lets through although they are not public."""
    return [str(n) for n in get("HTTP_ALLOWED_NETWORKS") or []]


def http_ca_bundle() -> str | None:
    value = get("HTTP_CA_BUNDLE")
    return None if value is None else str(value)


def slack_api_base_url() -> str:
    return str(get("SLACK_API_BASE_URL"))


def email_backend() -> str | None:
    value = get("EMAIL_BACKEND")
    return None if value is None else str(value)


def email_mailer() -> str | None:
    """The ``MAILERS`` alias automation mail goes through (Django 6.1+); ``None``: ``"default"``."""
    value = get("EMAIL_MAILER")
    return None if value is None else str(value)


def email_from() -> str | None:
    value = get("EMAIL_FROM")
    return None if value is None else str(value)


def email_message_id_domain() -> str | None:
    value = get("EMAIL_MESSAGE_ID_DOMAIN")
    return None if value is None else str(value)


def webhook_rate_limit_cache() -> str:
    """Alias of the Django cache holding per-endpoint webhook rate-limit counters."""
    return str(get("WEBHOOK_RATE_LIMIT_CACHE"))


def webhook_endpoint_cache_seconds() -> float:
    """How long a process serves an enabled webhook endpoint from memory (``0``: never)."""
    return float(get("WEBHOOK_ENDPOINT_CACHE_SECONDS"))


def extra_redact_keys() -> list[str]:
    return [str(k) for k in get("REDACT_KEYS")]


def connectors() -> dict[str, str]:
    return dict(get("CONNECTORS"))


def python_actions() -> dict[str, str]:
    return dict(get("PYTHON_ACTIONS"))


def settings_secrets() -> dict[str, str]:
    return dict(get("SECRETS"))


def encryption_keys() -> list[str]:
    """Fernet keys for secrets stored in the database; the first one encrypts, all of them decrypt."""
    return [k.decode() if isinstance(k, bytes) else str(k) for k in get("ENCRYPTION_KEYS") or []]


def tenant_resolver() -> Callable[[Any], str] | None:
    """The callable mapping a session-authenticated request to its tenant, or ``None`` (tenant "")."""
    value = get("TENANT_RESOLVER")
    if value is None or callable(value):
        return value
    from django.utils.module_loading import import_string

    try:
        resolver: Callable[[Any], str] = import_string(str(value))
    except ImportError as exc:
        from django_automate import exceptions

        raise exceptions.ImproperlyConfigured(
            f"Could not import {value!r} for AUTOMATE['TENANT_RESOLVER']: {exc}."
        ) from exc
    return resolver


def api_page_size() -> int:
    return int(get("API_PAGE_SIZE"))


def api_max_page_size() -> int:
    return int(get("API_MAX_PAGE_SIZE"))


def api_max_body_bytes() -> int:
    return int(get("API_MAX_BODY_BYTES"))


def api_throttle_rate() -> str | None:
    value = get("API_THROTTLE_RATE")
    return None if value is None else str(value)


def api_auth_failure_rate() -> str | None:
    """How many failed authentications a client IP may make before it is answered 429 (DRF rate syntax)."""
    value = get("API_AUTH_FAILURE_RATE")
    return None if value is None else str(value)


def api_cursor_safety_seconds() -> float:
    return float(get("API_CURSOR_SAFETY_SECONDS"))


def scheduler_poll_seconds() -> float:
    """How often ``automate scheduler`` looks for due ticks."""
    return float(get("SCHEDULER_POLL_SECONDS"))


def scheduler_grace_seconds() -> float:
    """How late a tick may be emitted before it counts as missed (and follows the catch-up policy)."""
    return float(get("SCHEDULER_GRACE_SECONDS"))


def celery_app() -> Any:
    """``AUTOMATE["CELERY_APP"]``: an import string, a Celery app, or ``None`` for Celery's current app."""
    return get("CELERY_APP")


def celery_queue() -> str | None:
    """Celery queue job ids are published to; ``None`` follows the app's own routing."""
    value = get("CELERY_QUEUE")
    return None if value is None else str(value)


def celery_sweep_interval() -> float:
    """How often each Celery worker runs the sweep (lease recovery and re-publishing)."""
    return float(get("CELERY_SWEEP_INTERVAL_SECONDS"))


def celery_sweep_after() -> float:
    """Age after which a ready job counts as lost by the broker and is published again."""
    return float(get("CELERY_SWEEP_AFTER_SECONDS"))


def metrics_token() -> str | None:
    """Bearer token ``GET metrics/`` requires (may be a ``$secret:NAME`` reference); ``None``: no token."""
    value = get("METRICS_TOKEN")
    return None if value is None else str(value)


def metrics_allowed_networks() -> list[str]:
    """CIDR networks whose clients may read ``metrics/``; ``[]``: any address (then a token is required)."""
    return [str(n) for n in get("METRICS_ALLOWED_NETWORKS") or []]


def metrics_row_counts() -> bool:
    """Whether a scrape counts events, runs and steps by status (grouped counts over those tables)."""
    return bool(get("METRICS_ROW_COUNTS"))


def health_max_outbox_lag() -> float:
    """Readiness fails when the oldest due outbox job has waited longer than this (seconds)."""
    return float(get("HEALTH_MAX_OUTBOX_LAG_SECONDS"))


def health_worker_stale_seconds() -> float:
    """A worker silent this long counts as gone; default twice ``LEASE_SECONDS``."""
    value = get("HEALTH_WORKER_STALE_SECONDS")
    return float(value) if value is not None else 2 * lease_seconds()


def get_user_settings() -> dict[str, Any]:
    """The user's ``AUTOMATE`` dict as given (without defaults)."""
    return dict(getattr(settings, "AUTOMATE", None) or {})


# Secrets across tenants and the size of a step's input (docs/settings.md).
DEFAULTS.update({"SHARED_SECRETS": [], "MAX_STEP_INPUT_BYTES": 1024 * 1024, "MAX_ITEMS": 1000})


def shared_secrets() -> frozenset[str]:
    """Names of the operator's secrets that tenant runs may use (none by default)."""
    return frozenset(str(name) for name in get("SHARED_SECRETS") or [])


def max_items() -> int:
    """The most items a ``for_each`` step runs; a longer list fails the step with ``validation_error``."""
    return max(0, int(get("MAX_ITEMS")))


def max_step_input_bytes() -> int:
    """Largest JSON size a step's rendered input may reach; rendering stops with ``validation_error`` beyond it."""
    return int(get("MAX_STEP_INPUT_BYTES"))


# Audit log (docs/governance.md): appended here so the settings above keep their order.
DEFAULTS.update(
    {
        "AUDIT_KEYS": [],
        "AUDIT_CHECKPOINT_FILE": None,
        "AUDIT_CHECKPOINT_EVERY": 1000,
    }
)


def audit_keys() -> list[bytes]:
    """HMAC keys of the audit chain; the first signs new entries, every key verifies (rotation)."""
    return [k if isinstance(k, bytes) else str(k).encode() for k in get("AUDIT_KEYS") or []]


def audit_checkpoint_file() -> str | None:
    """File outside the database where audit checkpoints are appended and read by ``verify-audit``."""
    value = get("AUDIT_CHECKPOINT_FILE")
    return None if value is None else str(value)


def audit_checkpoint_every() -> int:
    """Append a checkpoint to ``AUDIT_CHECKPOINT_FILE`` after every this many entries (``0``: never)."""
    return int(get("AUDIT_CHECKPOINT_EVERY"))


# Redaction (docs/governance.md): default words users can drop.
DEFAULTS.update({"REDACT_KEYS_EXCLUDE": []})


def redact_keys_exclude() -> list[str]:
    """Default redaction words to drop (``AUTOMATE["REDACT_KEYS_EXCLUDE"]``, e.g. ``["session"]``)."""
    return [str(k) for k in get("REDACT_KEYS_EXCLUDE")]


def max_job_crashes() -> int:
    """Claims in a row that may end in an unexpected error before the job is dead-lettered (at least 1)."""
    return max(1, int(get("MAX_JOB_CRASHES")))


# Django's Tasks framework (docs/tasks.md).
DEFAULTS.update({"TASKS_ALLOWED": [], "TASK_MAX_RESULT_BYTES": 1024 * 1024})


def tasks_allowed() -> list[str]:
    """Tasks the ``task`` connector may call: import paths, or module prefixes ending in ``.*``."""
    return [str(entry) for entry in get("TASKS_ALLOWED") or []]


def task_max_result_bytes() -> int:
    """Largest JSON size of a task's stored return value; a larger one fails the task."""
    return int(get("TASK_MAX_RESULT_BYTES"))


# Backfills (docs/operations.md).
DEFAULTS.update({"BACKFILL_EVENTS_PER_SECOND": 200, "BACKFILL_BATCH_SIZE": 500, "BACKFILL_QUEUE": "default"})


def backfill_events_per_second() -> float | None:
    """Events a backfill reads per second at most (its batches are spaced to keep it); ``None`` for no limit."""
    value = get("BACKFILL_EVENTS_PER_SECOND")
    return None if value is None else max(0.001, float(value))


def backfill_batch_size() -> int:
    """Events one backfill batch reads (one transaction); at least 1."""
    return max(1, int(get("BACKFILL_BATCH_SIZE")))


def backfill_queue() -> str:
    """The queue of backfill jobs: a separate one lets dedicated workers (``--queues``) do backfills."""
    return str(get("BACKFILL_QUEUE"))
