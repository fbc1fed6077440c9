"""Django app configuration."""

from __future__ import annotations

from django.apps import AppConfig


class AutomateConfig(AppConfig):
    name = "django_automate"
    label = "automate"
    verbose_name = "Automate"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django_automate import checks  # noqa: F401  (registers system checks)
        from django_automate.ingestion import tracking
        from django_automate.outbox import handoff
        from django_automate.worker import backends

        handoff.register(backends.dispatch)  # the outbox hands jobs to the worker without importing it

        tracking.setup_from_settings()  # AUTOMATE["TRACK_MODELS"]
