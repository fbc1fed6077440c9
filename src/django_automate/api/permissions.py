"""Django model permissions for the API, plus the app's own (``replay_event``, ``manage_secrets``, …).

Anonymous callers get 401 (DRF raises ``NotAuthenticated`` when a permission fails before
anyone authenticated), or 429 once they failed more often than ``API_THROTTLE_RATE`` allows;
authenticated callers without a permission get 403 naming it.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Model
from rest_framework import exceptions as drf_exceptions
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from django_automate.api import throttling

METHOD_ACTIONS = {
    "GET": "view",
    "HEAD": "view",
    "OPTIONS": "view",
    "POST": "add",
    "PUT": "change",
    "PATCH": "change",
    "DELETE": "delete",
}


def anonymous_denied(request: Request) -> bool:
    """An unauthenticated call is a failed authentication attempt: counted, and refused with 429 when over the rate."""
    throttling.check_not_blocked(request)
    throttling.record_failure(request)
    return False


def model_permission(model: type[Model], action: str) -> str:
    """``automate.<action>_<model name>``, e.g. ``automate.view_event``."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def required_permissions(view: Any, request: Request) -> list[str]:
    """What ``view`` needs: ``permissions_required``, ``action_permissions[action]``, else the model permission."""
    fixed: tuple[str, ...] | None = getattr(view, "permissions_required", None)
    if fixed is not None:
        return list(fixed)
    extra: dict[str, tuple[str, ...]] = getattr(view, "action_permissions", {})
    action = getattr(view, "action", None)
    if action in extra:
        return list(extra[action])
    model: type[Model] | None = getattr(view, "permission_model", None)
    if model is None:
        return []
    return [model_permission(model, METHOD_ACTIONS.get(request.method or "GET", "view"))]


class MissingPermission(drf_exceptions.PermissionDenied):
    """DRF's PermissionDenied (the browsable API catches it) naming what is missing."""

    def __init__(self, required: list[str]) -> None:
        self.required = required
        super().__init__(f"You need the permission {', '.join(required)}.")


class ModelPermissions(BasePermission):
    """Authenticated, and holding every permission :func:`required_permissions` names."""

    def has_permission(self, request: Request, view: Any) -> bool:
        user = request.user
        if not user or not user.is_authenticated:
            return anonymous_denied(request)
        missing = [perm for perm in required_permissions(view, request) if not user.has_perm(perm)]
        if missing:
            raise MissingPermission(missing)
        return True


class Authenticated(BasePermission):
    """Any authenticated caller (read-only resources that are not stored rows, e.g. connectors)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if request.user and request.user.is_authenticated:
            return True
        return anonymous_denied(request)
