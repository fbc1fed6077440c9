"""django-automate: reliable business automation inside your Django project."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = ["__version__", "emit"]

if TYPE_CHECKING:
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
