"""URLs to include under a prefix of your choice, e.g. ``path("automate/", include("django_automate.urls"))``."""

from __future__ import annotations

from django.urls import path

from django_automate.ingestion.webhooks.views import webhook_view

app_name = "automate"

urlpatterns = [
    path("hooks/<slug:slug>/", webhook_view, name="webhook"),
]
