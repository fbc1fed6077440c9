"""System checks for the ``AUTOMATE`` settings (ids ``automate.E0xx`` / ``automate.W0xx``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from django_automate import conf

#: The most routing jobs one claim takes (each batch is one transaction holding their row locks).
MAX_WORKER_BATCH_SIZE = 1000


@register()
def check_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = []
    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return [Error("AUTOMATE must be a dict.", hint="Set AUTOMATE = {...} in settings.", id="automate.E001")]
    unknown = sorted(set(user) - set(conf.DEFAULTS))
    if unknown:
        errors.append(
            Error(
                f"Unknown AUTOMATE setting(s): {', '.join(unknown)}.",
                hint=f"Valid keys: {', '.join(sorted(conf.DEFAULTS))}.",
                id="automate.E002",
            )
        )
    backend = user.get("EXECUTION_BACKEND", conf.DEFAULTS["EXECUTION_BACKEND"])
    if backend not in conf.BACKENDS:
        errors.append(
            Error(
                f"AUTOMATE['EXECUTION_BACKEND'] is {backend!r}.",
                hint=f"Use one of: {', '.join(conf.BACKENDS)}.",
                id="automate.E003",
            )
        )
    for key in (
        "LEASE_SECONDS",
        "HEARTBEAT_SECONDS",
        "POLL_INTERVAL_SECONDS",
        "LISTEN_POLL_SECONDS",
        "IDEMPOTENCY_RETENTION_HOURS",
    ):
        value = user.get(key, conf.DEFAULTS[key])
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            errors.append(Error(f"AUTOMATE[{key!r}] must be a positive number.", id="automate.E004"))
    batch = user.get("WORKER_BATCH_SIZE", conf.DEFAULTS["WORKER_BATCH_SIZE"])
    if not isinstance(batch, int) or isinstance(batch, bool) or not 1 <= batch <= MAX_WORKER_BATCH_SIZE:
        errors.append(
            Error(
                f"AUTOMATE['WORKER_BATCH_SIZE'] must be a whole number from 1 to {MAX_WORKER_BATCH_SIZE}.",
                hint="The routing jobs a worker claims and routes together; 1 routes one event at a time.",
                id="automate.E007",
            )
        )
    if errors:
        return errors
    if conf.idempotency_retention_hours() < 24:
        errors.append(Error("AUTOMATE['IDEMPOTENCY_RETENTION_HOURS'] must be at least 24.", id="automate.E005"))
    if conf.heartbeat_seconds() >= conf.lease_seconds():
        errors.append(
            Error(
                "AUTOMATE['HEARTBEAT_SECONDS'] must be shorter than AUTOMATE['LEASE_SECONDS'].",
                hint="A heartbeat every third of the lease is a good choice.",
                id="automate.E006",
            )
        )
    return errors


@register()
def check_api_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """REST API settings (ids automate.E050 to E059)."""
    from django_automate.api.checks import check_api

    return check_api()


@register()
def check_webhook_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Webhook settings: the rate-limit cache must exist, the endpoint cache time be sane (ids E020 to E029)."""
    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return []
    errors: list[CheckMessage] = []
    alias = user.get("WEBHOOK_RATE_LIMIT_CACHE", conf.DEFAULTS["WEBHOOK_RATE_LIMIT_CACHE"])
    caches = getattr(settings, "CACHES", None) or {"default": {}}
    if not isinstance(alias, str) or alias not in caches:
        errors.append(
            Error(
                f"AUTOMATE['WEBHOOK_RATE_LIMIT_CACHE'] is {alias!r}, which is not a key of CACHES.",
                hint="Name a cache shared by all server processes (Redis, Memcached or the database cache).",
                id="automate.E020",
            )
        )
    seconds = user.get("WEBHOOK_ENDPOINT_CACHE_SECONDS", conf.DEFAULTS["WEBHOOK_ENDPOINT_CACHE_SECONDS"])
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not 0 <= seconds <= 3600:
        errors.append(
            Error(
                f"AUTOMATE['WEBHOOK_ENDPOINT_CACHE_SECONDS'] is {seconds!r}; it must be a number from 0 to 3600.",
                hint="0 reads the endpoint from the database on every delivery.",
                id="automate.E021",
            )
        )
    return errors


@register()
def check_connectors(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Connector registry and connector settings (ids automate.E010, E011, E030 to E039, W030 to W039)."""
    from django_automate.connectors.checks import connector_messages

    return connector_messages()


@register()
def check_trigger_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Model tracking and scheduler settings (ids automate.E060 to E069)."""
    from django_automate.ingestion.tracking import setting_problems

    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return []
    errors: list[CheckMessage] = [
        Error(problem, hint="See AUTOMATE['TRACK_MODELS'] in docs/triggers.md.", id="automate.E060")
        for problem in setting_problems()
    ]
    for key in ("SCHEDULER_POLL_SECONDS", "SCHEDULER_GRACE_SECONDS"):
        value = user.get(key, conf.DEFAULTS[key])
        if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
            errors.append(Error(f"AUTOMATE[{key!r}] must be a positive number.", id="automate.E061"))
    return errors


@register()
def check_encryption_keys(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Encryption keys of the database secret store (ids automate.E040 to E049, W040 to W049)."""
    from django_automate.secrets.checks import key_messages

    return key_messages()


@register(Tags.security, deploy=True)
def check_encryption_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A deployment that cannot store secrets in the database says so (id automate.W042)."""
    from django_automate.secrets.checks import missing_key_messages

    return missing_key_messages()


@register()
def check_audit_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Audit keys and checkpoint settings (ids automate.E045, E046)."""
    from django_automate.audit.checks import setting_messages

    return setting_messages()


@register(Tags.security, deploy=True)
def check_audit_keys_configured(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """A deployment whose audit chain is unkeyed says so (id automate.W045)."""
    from django_automate.audit.checks import missing_key_messages

    return missing_key_messages()


@register(Tags.database)
def check_audit_triggers(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The audit log's append-only triggers exist where migration 0002 installed them (automate.W041)."""
    from django_automate.audit.checks import trigger_messages

    return trigger_messages(databases)


@register(Tags.database)
def check_rule_generation_triggers(app_configs: Any = None, databases: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The triggers that bump the routing generations exist where migration 0004 installed them (automate.W090)."""
    from django_automate.rules.generation import trigger_messages

    return trigger_messages(databases)


@register()
def check_celery_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The Celery backend: importable, its app found, sweep settings valid (ids automate.E080 to E089)."""
    from django_automate.worker.backends import celery_setting_problems

    user = getattr(settings, "AUTOMATE", {})
    if not isinstance(user, dict):
        return []
    return [Error(message, hint=hint, id=check_id) for check_id, message, hint in celery_setting_problems(user)]


@register()
def check_observability_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Metrics access and health thresholds (ids automate.E070 to E079, W070 to W079)."""
    from django_automate.observability.checks import observability_messages

    return observability_messages()


@register()
def check_task_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """The ``task`` connector's allow-list and the size cap of task results (ids automate.E095, E096)."""
    from django_automate.tasks.checks import task_setting_messages

    user = getattr(settings, "AUTOMATE", {})
    return task_setting_messages(user) if isinstance(user, dict) else []
