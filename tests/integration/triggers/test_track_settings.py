"""AUTOMATE["TRACK_MODELS"] and the system checks of trigger settings (automate.E060, E061)."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import override_settings

from django_automate import exceptions
from django_automate.checks import check_trigger_settings
from django_automate.ingestion import tracking
from django_automate.models import Event
from tests.testapp.models import Article, Comment

pytestmark = pytest.mark.usefixtures("untrack_after")


def automate(**values: Any) -> override_settings:
    return override_settings(AUTOMATE={**settings.AUTOMATE, **values})


@pytest.mark.django_db(transaction=True)
def test_models_listed_in_the_setting_are_tracked():
    entries = [
        "testapp.Article",
        {"model": "testapp.Comment", "on": ["created"], "fields": ["text"], "tenant_field": "article_id"},
    ]
    with automate(TRACK_MODELS=entries):
        tracking.setup_from_settings()
        tracking.setup_from_settings()  # idempotent, as ready() may run more than once
    specs = tracking.tracked()
    assert specs[Article].on == frozenset({"created", "updated", "deleted"})
    assert (specs[Comment].on, specs[Comment].fields) == (frozenset({"created"}), ("text",))
    article = Article.objects.create(title="Hello")
    Comment.objects.create(article=article, text="First")
    comment_event = Event.objects.get(type="testapp.comment.created")
    assert comment_event.tenant == str(article.pk)
    assert comment_event.payload["data"] == {"text": "First"}
    assert Event.objects.filter(type="testapp.article.created").count() == 1


@pytest.mark.parametrize(
    ("entries", "fragment"),
    [
        ("testapp.Article", "must be a list"),
        (["testapp.Nope"], "not an installed model"),
        (["nodots"], "not an installed model"),
        ([{"on": ["created"]}], "must be 'app_label.Model' or a dict"),
        ([{"model": "testapp.Article", "colour": "red"}], "Unknown key(s) colour"),
        ([{"model": "testapp.Article", "on": ["changed"]}], "on= for testapp.Article"),
        ([{"model": "testapp.Article", "fields": ["nope"]}], "no concrete field(s) nope"),
        ([{"model": "testapp.Article", "tenant_field": "nope"}], "no field 'nope'"),
    ],
)
def test_wrong_entries_fail_the_checks_and_the_setup(entries, fragment):
    with automate(TRACK_MODELS=entries):
        messages = check_trigger_settings()
        assert [m.id for m in messages] == ["automate.E060"]
        assert fragment in messages[0].msg
        with pytest.raises(exceptions.ImproperlyConfigured):
            tracking.setup_from_settings()
    assert tracking.tracked() == {}


def test_valid_settings_pass_the_checks():
    with automate(TRACK_MODELS=["testapp.Article"], SCHEDULER_POLL_SECONDS=0.5, SCHEDULER_GRACE_SECONDS=30):
        assert check_trigger_settings() == []


@pytest.mark.parametrize("key", ["SCHEDULER_POLL_SECONDS", "SCHEDULER_GRACE_SECONDS"])
@pytest.mark.parametrize("value", [0, -1, "1", True])
def test_scheduler_durations_must_be_positive_numbers(key, value):
    with automate(**{key: value}):
        assert [m.id for m in check_trigger_settings()] == ["automate.E061"]
