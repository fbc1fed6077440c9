"""The OpenAPI document, the offline reference page and the browsable API."""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_schema_documents_every_error_as_normalized_error(anonymous):
    response = anonymous.get("schema/")
    assert response.status_code == 200 and response["X-Trace-Id"]
    document = response.json()
    assert document["openapi"].startswith("3.")
    error = document["components"]["schemas"]["NormalizedError"]
    assert set(error["required"]) == {"code", "message", "details", "trace_id"}
    assert document["components"]["securitySchemes"]["automateToken"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "A token from `manage.py automate token create <username>`.",
    }
    paths = document["paths"]
    assert all(path.startswith("/automate/api/v1/") for path in paths)
    for path, operations in paths.items():
        for method, operation in operations.items():
            responses = operation["responses"]
            for status in ("401", "403", "429", "500", "503"):
                schema = responses[status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/NormalizedError"}, (method, path, status)
            for status in ("429", "503"):  # both answers say when to come back
                assert responses[status]["headers"]["Retry-After"]["required"], (method, path, status)
            assert all(r["headers"]["X-Trace-Id"]["required"] for r in responses.values())
            if "{" in path:
                assert "404" in responses, (method, path)
    assert {"get", "post"} <= set(paths["/automate/api/v1/events/"])
    assert "post" in paths["/automate/api/v1/workflows/{slug}/publish/"]
    created = paths["/automate/api/v1/events/"]["post"]["responses"]["201"]
    assert created["links"]["events_retrieve"]["parameters"] == {"id": "$response.body#/id"}


def test_the_schema_is_also_served_as_yaml(anonymous):
    response = anonymous.get("schema/?format=yaml")
    assert response.status_code == 200 and response.content.startswith(b"openapi: 3.")


def test_the_reference_page_works_offline(anonymous):
    response = anonymous.get("docs/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "<script" not in page and not re.search(r"""(src|href)=["']https?://""", page)
    assert "/automate/api/v1/events/{id}/replay/" in page and 'id="schema-NormalizedError"' in page
    assert anonymous.post("docs/", {}).status_code == 405


def test_the_api_is_browsable_with_a_session(make_user, settings):
    settings.STATIC_URL = "/static/"
    client = Client()
    client.force_login(make_user("view_event"))
    response = client.get("/automate/api/v1/events/", headers={"Accept": "text/html"})
    assert response.status_code == 200 and b"<html" in response.content
    assert response["X-Trace-Id"]
    error = client.get("/automate/api/v1/runs/", headers={"Accept": "text/html"})
    assert error.status_code == 403 and b"permission_denied" in error.content


def test_the_root_lists_the_resources(anonymous):
    links = anonymous.get("").json()
    assert links["events"].endswith("/automate/api/v1/events/")
    assert links["schema"].endswith("/automate/api/v1/schema/")
