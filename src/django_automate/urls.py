"""URLs to include under a prefix of your choice, e.g. ``path("automate/", include("django_automate.urls"))``.

Everything under the prefix answers errors in the one NormalizedError shape and carries
``X-Trace-Id``, without any middleware: API views do it through their DRF hooks, plain views
are wrapped in :func:`~django_automate.api.errors.automate_view`, and the last pattern turns
every unmatched path into a ``404 resource_not_found``. Keep that catch-all last.
"""

from __future__ import annotations

from django.urls import include, path, re_path

from django_automate.api.errors import automate_view, not_found_view
from django_automate.ingestion.webhooks.views import webhook_view

app_name = "automate"

urlpatterns = [
    path("hooks/<slug:slug>/", automate_view(webhook_view), name="webhook"),
    path("api/v1/", include(("django_automate.api.urls", "api"))),
    path("", include("django_automate.observability.urls")),  # health/, health/live/, metrics/
    re_path(r"^(?P<path>[\s\S]*)$", not_found_view, name="not-found"),  # [\s\S]: newlines too
]
