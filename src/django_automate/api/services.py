"""Control-plane writes made through the API: one transaction and one audit entry each.

Views call these instead of saving models themselves, so the admin and commands can reuse
them and every path records the same audit trail (``endpoint.created``, ``schedule.updated``, …).
Rules have their own services in :mod:`django_automate.rules.services`.
"""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Model

from django_automate import exceptions
from django_automate.audit import log as audit

#: Audit ``object_type`` (and action prefix) of each model the API writes.
OBJECT_TYPES = {
    "webhookendpoint": "endpoint",
    "schedule": "schedule",
    "budget": "budget",
    "workflow": "workflow",
}


def _object_type(model: type[Model]) -> str:
    return OBJECT_TYPES.get(model._meta.model_name or "", model._meta.model_name or "object")


def _audit_data(instance: Model, fields: dict[str, Any]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name in fields:
        value = getattr(instance, name)
        data[name] = value if isinstance(value, (str, int, float, bool, list, dict, type(None))) else str(value)
    label = getattr(instance, "slug", None) or getattr(instance, "name", None)
    if label is not None:
        data.setdefault("label", str(label))
    return data


def _conflict(exc: IntegrityError, instance: Model) -> exceptions.Conflict:
    kind = instance._meta.verbose_name
    return exceptions.Conflict(f"The {kind} conflicts with an existing one.", details={"object_type": str(kind)})


def create(model: type[Model], values: dict[str, Any], *, tenant: str, actor: str) -> Any:
    """Create a ``model`` row in ``tenant`` and audit ``<type>.created``."""
    instance = model(tenant=tenant, **values)
    kind = _object_type(model)
    try:
        with transaction.atomic():
            instance.save(force_insert=True)
            audit.record(
                f"{kind}.created",
                actor=actor,
                object_type=kind,
                object_id=str(instance.pk),
                tenant=tenant,
                data=_audit_data(instance, values),
            )
    except IntegrityError as exc:
        raise _conflict(exc, instance) from None
    return instance


def update(instance: Any, values: dict[str, Any], *, actor: str) -> Any:
    """Apply ``values`` and audit ``<type>.updated``."""
    kind = _object_type(type(instance))
    for name, value in values.items():
        setattr(instance, name, value)
    try:
        with transaction.atomic():
            instance.save()
            audit.record(
                f"{kind}.updated",
                actor=actor,
                object_type=kind,
                object_id=str(instance.pk),
                tenant=instance.tenant,
                data=_audit_data(instance, values),
            )
    except IntegrityError as exc:
        raise _conflict(exc, instance) from None
    return instance


def delete(instance: Any, *, actor: str) -> None:
    """Delete ``instance`` and audit ``<type>.deleted``."""
    kind = _object_type(type(instance))
    pk, tenant, data = str(instance.pk), instance.tenant, _audit_data(instance, {})
    try:
        with transaction.atomic():
            instance.delete()
            audit.record(f"{kind}.deleted", actor=actor, object_type=kind, object_id=pk, tenant=tenant, data=data)
    except IntegrityError as exc:
        raise _conflict(exc, instance) from None
