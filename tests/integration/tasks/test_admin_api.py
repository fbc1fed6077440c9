"""Task results in the admin (read-only) and the API (``tasks/``, read-only, scoped to the caller's tenant)."""

from __future__ import annotations

import django
import pytest

# Django 6.0+ has django.tasks; before it, these tests need the django-tasks backport.
pytest.importorskip(
    "tests.testapp.tasks",
    reason=f"Django {django.get_version()} has no django.tasks and the django-tasks backport is not installed "
    "(pip install 'django-automate[tasks]')",
)
from django.contrib.auth.models import Permission, User
from django.test import Client

from django_automate.api.tokens import create_token
from django_automate.models import TaskResult
from tests.testapp import tasks

# Tests with a worker commit for real (a transactional database); the others roll back, which is faster.
pytestmark = pytest.mark.django_db
COMMITTING = pytest.mark.django_db(transaction=True)
API = "/automate/api/v1/tasks/"


def token_client(*codenames: str, tenant: str = "") -> Client:
    user = User.objects.create_user(f"u{User.objects.count()}", None, None)
    for codename in codenames:
        user.user_permissions.add(Permission.objects.get(content_type__app_label="automate", codename=codename))
    token = create_token(User.objects.get(pk=user.pk), tenant=tenant).plaintext
    return Client(headers={"Authorization": f"Bearer {token}"})


@COMMITTING
def test_the_api_lists_and_shows_task_results_redacted(run_worker, settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "API_CURSOR_SAFETY_SECONDS": 0}
    done = tasks.returns_secret.enqueue()
    waiting = tasks.send_email.enqueue("a@example.com")
    run_worker()
    client = token_client("view_taskresult")

    listed = client.get(API).json()
    assert {row["id"]: row["status"] for row in listed["results"]} == {done.id: "SUCCESSFUL", waiting.id: "READY"}
    assert client.get(API, {"queue": "emails"}).json()["results"][0]["id"] == waiting.id
    shown = client.get(f"{API}{done.id}/").json()
    assert shown["task_path"] == "tests.testapp.tasks.returns_secret"
    assert shown["return_value"] == {"token": "[REDACTED]", "ok": True}
    assert shown["trace_id"] and shown["job"]


def test_the_api_needs_the_view_permission_and_is_read_only():
    result = tasks.add.enqueue(1, 2)
    assert token_client().get(API).status_code == 403
    client = token_client("view_taskresult", "add_taskresult", "change_taskresult", "delete_taskresult")
    assert client.delete(f"{API}{result.id}/").status_code == 405
    assert client.post(API, {}, content_type="application/json").status_code == 405


def test_other_tenants_do_not_see_task_results():
    result = tasks.add.enqueue(1, 2)
    client = token_client("view_taskresult", tenant="acme")
    assert client.get(API).json()["results"] == []
    assert client.get(f"{API}{result.id}/").status_code == 404


def test_the_openapi_schema_documents_the_tasks_endpoints():
    paths = Client().get("/automate/api/v1/schema/").json()["paths"]
    assert set(paths["/automate/api/v1/tasks/"]) == {"get"}
    assert set(paths["/automate/api/v1/tasks/{id}/"]) == {"get"}


def test_the_admin_shows_task_results_and_changes_nothing(admin_client):
    result = tasks.add.enqueue(1, 2)
    assert admin_client.get("/admin/automate/taskresult/?status__exact=READY&q=add").status_code == 200
    page = admin_client.get(f"/admin/automate/taskresult/{result.id}/change/")
    assert page.status_code == 200 and b"tests.testapp.tasks.add" in page.content
    assert admin_client.get("/admin/automate/taskresult/add/").status_code == 403
    assert admin_client.post(f"/admin/automate/taskresult/{result.id}/delete/").status_code == 403
    assert TaskResult.objects.count() == 1
