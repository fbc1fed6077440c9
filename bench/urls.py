"""URLs of the benchmark project: the app where a user mounts it, and the baseline view beside it."""

from __future__ import annotations

from bench.baseline.views import insert
from django.urls import include, path

urlpatterns = [
    path("automate/", include("django_automate.urls")),
    path("baseline/insert/", insert),
]
