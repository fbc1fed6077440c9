"""One-word, lower-case names that end with a sensitive word (``newpassword``, ``clientsecret``,
``apitoken``, as HTML forms and HTTP headers spell them) are redacted in what the API shows, and a
rule test reading them against a stored event is refused like any other redacted value.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from django_automate.api.tokens import create_token
from django_automate.ingestion.events import record_event
from django_automate.policy.redaction import REDACTED, redact

pytestmark = pytest.mark.django_db

API = "/automate/api/v1/"
SECRET = "hunter2-correct-horse"
COMPOUNDS = ["newpassword", "userpassword", "dbpasswd", "clientsecret", "webhooksecret", "apitoken", "x-apitoken"]


def staff(*codenames: str) -> User:
    account = User.objects.create_user(f"user{uuid.uuid4().hex[:8]}", is_staff=True)
    for codename in codenames:
        account.user_permissions.add(Permission.objects.get(content_type__app_label="automate", codename=codename))
    return User.objects.get(pk=account.pk)


def client(account: User) -> tuple[Client, dict[str, str]]:
    return Client(), {"Authorization": f"Bearer {create_token(account, tenant='').plaintext}"}


@pytest.mark.parametrize("name", COMPOUNDS)
def test_a_one_word_name_ending_with_a_sensitive_word_is_redacted(name: str) -> None:
    assert redact({name: SECRET, "name": "ann"}) == {name: REDACTED, "name": "ann"}


@pytest.mark.parametrize("name", COMPOUNDS)
def test_the_api_shows_the_event_redacted_and_refuses_rule_tests_reading_it(name: str) -> None:
    event = record_event(
        type="user.changed",
        payload={"form": {name: SECRET}},
        headers={name: SECRET},
        source="api",
        trace_id=str(uuid.uuid4()),
    ).event
    api, headers = client(staff("view_event", "view_rulespec"))

    shown = api.get(f"{API}events/{event.id}/", headers=headers)
    assert shown.status_code == 200
    assert SECRET not in shown.content.decode()

    condition = {"<=": [{"var": f"event.payload.form.{name}"}, "m"]}
    body: dict[str, Any] = {"rule": {"event_type": "user.changed", "condition": condition}, "event_id": str(event.id)}
    tested = api.post(f"{API}rules/test/", json.dumps(body), content_type="application/json", headers=headers)
    assert tested.status_code == 403, tested.content
    assert SECRET not in tested.content.decode()
