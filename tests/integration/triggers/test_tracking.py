"""track(): model changes become events in the same transaction, one per change."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

import django_automate
from django_automate import exceptions
from django_automate.models import Event, ExecutionRun, JobKind, OutboxJob
from tests.testapp.models import Article, Comment

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("untrack_after")]
transactional = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


def events(kind: str = "", model: str = "article") -> list[Event]:
    queryset = Event.objects.filter(type__startswith=f"testapp.{model}.{kind}").order_by("received_at", "id")
    return list(queryset)


def test_create_update_delete_emit_events_with_pk_data_and_changes():
    django_automate.track(Article, exclude=["api_token"])
    article = Article.objects.create(title="Hello", price=Decimal("9.90"), published_on=dt.date(2025, 1, 2))
    [created] = events("created")
    assert (created.source, created.tenant) == ("model", "")
    assert created.payload["pk"] == article.pk
    data = created.payload["data"]
    assert {k: data[k] for k in ("id", "title", "status", "price", "published_on")} == {
        "id": article.pk,
        "title": "Hello",
        "status": "draft",
        "price": "9.90",
        "published_on": "2025-01-02",
    }
    assert "api_token" not in data and isinstance(data["updated_at"], str)
    assert created.payload["changes"]["title"] == [None, "Hello"]
    assert OutboxJob.objects.filter(event=created, kind=JobKind.ROUTE_EVENT).count() == 1

    article.status = "published"
    article.save()
    [updated] = events("updated")
    assert updated.type == "testapp.article.updated"
    assert updated.payload["changes"] == {"status": ["draft", "published"]}  # auto_now updated_at is not a change
    assert updated.payload["data"]["status"] == "published"

    pk = article.pk
    article.delete()
    [deleted] = events("deleted")
    assert deleted.payload["pk"] == pk
    assert deleted.payload["changes"]["status"] == ["published", None]


def test_a_save_that_changes_no_tracked_field_emits_nothing():
    django_automate.track(Article, on=["updated"], fields=["status"])
    article = Article.objects.create(title="Hello")
    article.save()
    article.title = "Renamed"
    article.save()
    assert events() == []
    article.status = "published"
    article.save()
    [updated] = events("updated")
    assert updated.payload["data"] == {"status": "published"}
    assert updated.payload["changes"] == {"status": ["draft", "published"]}


def test_update_fields_without_tracked_fields_costs_no_query():
    django_automate.track(Article, fields=["status"])
    article = Article.objects.create(title="Hello")
    article.title = "Renamed"
    with CaptureQueriesContext(connection) as queries:
        article.save(update_fields=["title"])
    assert len(queries) == 1  # the UPDATE itself
    assert events("updated") == []


def test_equal_values_in_another_form_are_not_changes():
    django_automate.track(Article)
    article = Article.objects.create(title="Hello", price=Decimal("12.50"))
    article.price = Decimal("12.5")
    article.save()
    article.price = "12.500"
    article.save()
    assert events("updated") == []


@transactional
def test_every_change_is_its_own_event_100_updates_in_100_transactions():
    django_automate.track(Article, fields=["title"])
    article = Article.objects.create(title="t0")
    for n in range(1, 101):
        with transaction.atomic():
            article.title = f"t{n}"
            article.save()
    updates = events("updated")
    assert len(updates) == 100
    assert [e.payload["changes"]["title"] for e in updates] == [[f"t{n - 1}", f"t{n}"] for n in range(1, 101)]
    assert len({e.idempotency_key for e in updates}) == 100
    assert OutboxJob.objects.filter(kind=JobKind.ROUTE_EVENT).count() == 101


@transactional
def test_a_rolled_back_change_emits_nothing():
    django_automate.track(Article)
    article = Article.objects.create(title="Hello")
    before = Event.objects.count()
    with pytest.raises(Boom), transaction.atomic():
        article.status = "published"
        article.save()
        assert Event.objects.count() == before + 1
        raise Boom
    with pytest.raises(Boom), transaction.atomic():
        Article.objects.create(title="never")
        Article.objects.get(pk=article.pk).delete()
        raise Boom
    assert Event.objects.count() == before
    assert OutboxJob.objects.count() == before


def test_bulk_operations_capture_deletes_only():
    django_automate.track(Article)
    Article.objects.bulk_create([Article(title="a"), Article(title="b")])
    assert events("created") == []  # bulk_create sends no signals
    Article.objects.update(status="published")
    assert events("updated") == []  # nor does QuerySet.update()
    Article.objects.filter(title__in=["a", "b"]).delete()
    assert sorted(e.payload["data"]["title"] for e in events("deleted")) == ["a", "b"]


def test_deferred_fields_are_left_out_without_extra_queries():
    django_automate.track(Article)
    Article.objects.create(title="Hello", body="long text")
    article = Article.objects.only("id", "status").get()
    article.status = "published"
    with CaptureQueriesContext(connection) as queries:
        article.save()
    [updated] = events("updated")
    assert set(updated.payload["data"]) == {"id", "status"}
    on_article = [q["sql"] for q in queries.captured_queries if "testapp_article" in q["sql"]]
    assert len(on_article) == 2  # the stored status (one SELECT) and the UPDATE: no refresh of deferred fields


def test_uuid_primary_keys_and_foreign_keys_are_serialised():
    django_automate.track(Comment, tenant=lambda comment: f"t-{comment.article_id}")
    article = Article.objects.create(title="Hello")
    comment = Comment.objects.create(article=article, text="First")
    [created] = events("created", model="comment")
    assert created.payload["pk"] == str(comment.pk)
    assert created.payload["data"] == {"id": str(comment.pk), "article": article.pk, "text": "First"}
    assert created.tenant == f"t-{article.pk}"


def test_tracking_again_with_the_same_options_is_a_no_op_other_options_fail():
    first = django_automate.track(Article, fields=["status"])
    assert django_automate.track(Article, fields=["status"]) is first
    with pytest.raises(exceptions.ImproperlyConfigured, match="already tracked"):
        django_automate.track(Article, fields=["title"])
    Article.objects.create(title="Hello")
    assert len(events("created")) == 1  # connected once


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"on": ["changed"]}, "on= for testapp.Article"),
        ({"on": []}, "on= for testapp.Article"),
        ({"fields": ["nope"]}, "no concrete field(s) nope"),
        ({"exclude": ["comments"]}, "no concrete field(s) comments"),
        ({"tenant": 3}, "must be a string or a callable"),
    ],
)
def test_wrong_options_are_reported(kwargs, fragment):
    with pytest.raises(exceptions.ImproperlyConfigured) as info:
        django_automate.track(Article, **kwargs)
    assert fragment in info.value.message


@transactional
def test_changes_are_written_on_the_alias_of_the_change(other_alias):
    django_automate.track(Article)
    with pytest.raises(Boom), transaction.atomic(using=other_alias):
        Article.objects.using(other_alias).create(title="rolled back")
        raise Boom
    assert events() == []
    with transaction.atomic(using=other_alias):
        article = Article.objects.using(other_alias).create(title="kept")
        assert Event.objects.using(other_alias).filter(type="testapp.article.created").count() == 1
        assert events() == []  # not visible on "default" before the commit
    assert [e.payload["pk"] for e in events("created")] == [article.pk]


@transactional
def test_rules_can_match_a_transition(workflow_factory, rule_factory, run_worker):
    django_automate.track(Article, fields=["status"])
    transition = {
        "and": [
            {"==": [{"var": "event.payload.changes.status.0"}, "draft"]},
            {"==": [{"var": "event.payload.changes.status.1"}, "published"]},
        ]
    }
    rule_factory(workflow_factory(), event_type="testapp.article.updated", condition=transition)
    article = Article.objects.create(title="Hello", status="review")
    for status in ("draft", "published", "draft", "archived", "draft", "published"):
        article.status = status
        article.save()
    run_worker()
    runs = ExecutionRun.objects.select_related("event").order_by("event__received_at")
    assert [r.event.payload["changes"]["status"] for r in runs] == [["draft", "published"], ["draft", "published"]]
    assert {r.status for r in runs} == {"succeeded"}


def test_django_automate_models_cannot_be_tracked():
    with pytest.raises(exceptions.ImproperlyConfigured, match="its changes are the events"):
        django_automate.track(Event)
