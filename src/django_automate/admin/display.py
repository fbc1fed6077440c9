"""Rendering helpers: redacted, pretty-printed JSON and links between related objects."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from django_automate.policy.redaction import redact

RAW_PERMISSION = "automate.view_raw_payload"


def pretty_json(value: Any, *, raw: bool = False) -> SafeString:
    """Pretty JSON in a <pre>, redacted unless ``raw``."""
    shown = value if raw else redact(value)
    text = json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    return format_html('<pre class="automate-json">{}</pre>', text)


def require_permissions(request: HttpRequest, *perms: str) -> None:
    """403 (Django's ``PermissionDenied``, which the admin renders) unless the user holds every one of ``perms``."""
    if not request.user.has_perms(perms):
        raise PermissionDenied


def is_uuid(value: str) -> bool:
    """Whether ``value`` reads as a UUID (a run's id), so a lookup by it cannot fail on the database."""
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def can_view_raw(request: HttpRequest) -> bool:
    return bool(request.user.has_perm(RAW_PERMISSION))


def admin_link(obj: Any, text: str | None = None) -> SafeString | str:
    if obj is None:
        return "-"
    url = reverse(f"admin:automate_{obj._meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, text or str(obj))


def trace_link(trace_id: str) -> SafeString | str:
    if not trace_id:
        return "-"
    return format_html('<a href="{}">{}</a>', reverse("admin:automate_trace", args=[trace_id]), trace_id)


class ReadOnlyAdminMixin:
    """Rows written only by the runtime: viewable, never added, changed or deleted in the admin."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
