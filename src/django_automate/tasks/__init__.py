"""A backend of Django's Tasks framework that runs tasks on django-automate's workers (docs/tasks.md).

``TASKS = {"default": {"BACKEND": "django_automate.tasks.AutomateBackend"}}``. The backend is
imported lazily: this package imports on Django versions without the Tasks framework, and
only using the backend needs ``django.tasks`` (Django 6.0+) or the ``django-tasks`` backport.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django_automate.tasks.backend import AutomateBackend

__all__ = ["AutomateBackend"]


def __getattr__(name: str) -> Any:
    if name == "AutomateBackend":
        from django_automate.tasks.backend import AutomateBackend

        return AutomateBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
