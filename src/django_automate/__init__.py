"""django-automate: reliable business automation inside your Django project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "emit", "track"]

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from django.db.models import Model

    from django_automate.ingestion.tracking import TrackSpec
    from django_automate.models import Event


def emit(
    type: str,
    payload: Any,
    *,
    idempotency_key: str | None = None,
    tenant: str = "",
    source: str = "app",
    using: str | None = None,
) -> Event:
    """Record an Event (and its routing job) in the caller's current transaction.

    If the caller's transaction rolls back, the event never existed.
    """
    from django_automate.ingestion.emit import emit as _emit

    return _emit(type, payload, idempotency_key=idempotency_key, tenant=tenant, source=source, using=using)


def track(
    model: type[Model],
    on: Iterable[str] = ("created", "updated", "deleted"),
    fields: Iterable[str] | None = None,
    *,
    exclude: Iterable[str] = (),
    tenant: str | Callable[[Model], str] = "",
) -> TrackSpec:
    """Emit ``<app_label>.<model>.<created|updated|deleted>`` events for changes of ``model``.

    Each event is written in the transaction of the change, with payload
    ``{"pk", "data", "changes": {field: [old, new]}}``; see docs/triggers.md.
    """
    from django_automate.ingestion.tracking import track as _track

    return _track(model, on, fields, exclude=exclude, tenant=tenant)
