"""The app's URLs with the observability views mounted before the catch-all, as a project would."""

from __future__ import annotations

from django.urls import include, path

from django_automate import urls as automate_urls
from django_automate.observability import urls as observability_urls

urlpatterns = [
    path(
        "automate/",
        include(([*observability_urls.urlpatterns, *automate_urls.urlpatterns], "automate")),
    ),
]
