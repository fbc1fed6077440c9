"""``health/``, ``health/live/`` and ``metrics/``, to include next to the other patterns of the app.

In ``django_automate.urls`` (before the catch-all)::

    path("", include("django_automate.observability.urls")),
"""

from __future__ import annotations

from django.urls import path

from django_automate.observability import views

urlpatterns = [
    path("health/", views.health_view, name="health"),
    path("health/live/", views.liveness_view, name="health-live"),
    path("metrics/", views.metrics_view, name="metrics"),
]
