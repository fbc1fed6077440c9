"""Debounced rules (SPEC §14): a burst of events of one key starts one run, for the last of them, after the window."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

import django_automate
from django_automate import exceptions
from django_automate.api.tokens import create_token
from django_automate.models import Debounce, ExecutionRun, JobKind, JobStatus, OutboxJob, RuleSpec
from django_automate.outbox.claim import claim
from django_automate.rules.services import save_rule
from django_automate.runs.routing import route_event

pytestmark = pytest.mark.django_db(transaction=True)


def emit(count: int, key: str = "a", *, start: int = 0, tenant: str = "") -> list:
    return [django_automate.emit("order.saved", {"id": key, "n": n}, tenant=tenant) for n in range(start, count)]


def fast_forward() -> None:
    """Let every pending burst's window pass, as if its time had come."""
    past = timezone.now() - dt.timedelta(seconds=1)
    Debounce.objects.update(due_at=past)
    OutboxJob.objects.filter(kind=JobKind.FIRE_DEBOUNCE, status=JobStatus.READY).update(available_at=past)


@pytest.fixture
def debounced(workflow_factory, rule_factory):
    workflow = workflow_factory(slug="sync")
    return rule_factory(workflow, name="sync", debounce_seconds=60, debounce_key="{{ event.payload.id }}")


def test_a_burst_of_one_key_starts_one_run_for_its_last_event_after_the_window(debounced, run_worker):
    events = emit(50)
    before = timezone.now()
    run_worker()
    assert not ExecutionRun.objects.exists()  # the window is not over
    [row] = Debounce.objects.all()
    assert (row.event_id, row.events, row.key) == (events[-1].id, 50, "a")
    [job] = OutboxJob.objects.filter(kind=JobKind.FIRE_DEBOUNCE)
    assert job.status == JobStatus.READY and job.available_at >= before + dt.timedelta(seconds=59)
    fast_forward()
    run_worker()
    [run] = ExecutionRun.objects.all()
    assert run.event_id == events[-1].id and run.event.payload == {"id": "a", "n": 49}
    assert run.rule_id == debounced.pk and run.workflow_version_id == debounced.workflow.current_version_id
    assert not Debounce.objects.exists()
    assert OutboxJob.objects.get(kind=JobKind.FIRE_DEBOUNCE).status == JobStatus.DONE


def test_the_run_starts_once_the_window_has_passed_since_the_last_event(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(slug="sync"), debounce_seconds=1, debounce_key="{{ event.payload.id }}")
    emit(3)
    run_worker()
    time.sleep(0.5)
    last = emit(4, start=3)[-1]  # pushes the start back
    run_worker()
    routed = timezone.now()
    time.sleep(0.7)
    run_worker()
    assert not ExecutionRun.objects.exists()
    time.sleep(0.5)
    run_worker()
    [run] = ExecutionRun.objects.all()
    assert run.event_id == last.id and run.created_at >= routed + dt.timedelta(seconds=0.9)


def test_keys_are_debounced_apart_and_other_rules_start_their_runs_at_once(
    debounced, workflow_factory, rule_factory, run_worker
):
    rule_factory(workflow_factory(slug="audit"), name="audit")
    a, b = emit(50, "a"), emit(20, "b")
    run_worker()
    assert ExecutionRun.objects.filter(workflow__slug="audit").count() == 70
    assert not ExecutionRun.objects.filter(workflow__slug="sync").exists()
    fast_forward()
    run_worker()
    runs = ExecutionRun.objects.filter(workflow__slug="sync")
    assert sorted(run.event_id for run in runs) == sorted([a[-1].id, b[-1].id])


def test_an_event_after_the_window_starts_a_new_run(debounced, run_worker):
    emit(5)
    run_worker()
    fast_forward()
    run_worker()
    last = emit(8, start=5)[-1]
    run_worker()
    assert ExecutionRun.objects.count() == 1
    fast_forward()
    run_worker()
    assert ExecutionRun.objects.count() == 2
    assert ExecutionRun.objects.filter(event=last).exists()


def test_a_burst_longer_than_the_cap_starts_its_run_anyway(debounced, run_worker):
    emit(2)
    run_worker()
    Debounce.objects.update(first_at=timezone.now() - dt.timedelta(seconds=60 * 10))
    last = emit(3, start=2)[-1]
    run_worker()  # the cap is reached: due now
    [run] = ExecutionRun.objects.all()
    assert run.event_id == last.id


def test_a_replayed_routing_job_starts_no_second_run(debounced, run_worker):
    [event] = emit(1)
    run_worker()
    fast_forward()
    run_worker()
    # The same event routed again (its job replayed): no second run of it.
    route = OutboxJob.objects.get(kind=JobKind.ROUTE_EVENT)
    OutboxJob.objects.filter(pk=route.pk).update(status=JobStatus.READY, available_at=timezone.now())
    run_worker()
    fast_forward()
    run_worker()
    assert list(ExecutionRun.objects.values_list("event_id", flat=True)) == [event.id]
    assert not Debounce.objects.exists()


def test_tenants_are_debounced_apart(workflow_factory, rule_factory, run_worker):
    for tenant in ("", "acme"):
        workflow = workflow_factory(slug="sync", tenant=tenant)
        rule_factory(workflow, tenant=tenant, name="sync", debounce_seconds=60, debounce_key="{{ event.payload.id }}")
    ours, theirs = emit(5), emit(5, tenant="acme")
    run_worker()
    assert set(Debounce.objects.values_list("tenant", "event_id")) == {("", ours[-1].id), ("acme", theirs[-1].id)}
    fast_forward()
    run_worker()
    assert set(ExecutionRun.objects.values_list("tenant", "event_id")) == {("", ours[-1].id), ("acme", theirs[-1].id)}


def test_a_key_that_cannot_be_rendered_starts_the_run_at_once(workflow_factory, rule_factory, run_worker):
    rule_factory(workflow_factory(slug="sync"), debounce_seconds=60, debounce_key="{{ event.payload.missing }}")
    emit(3)
    run_worker()
    assert ExecutionRun.objects.count() == 3 and not Debounce.objects.exists()


def test_concurrent_routers_of_one_key_start_one_run(debounced, run_worker):
    emit(12)
    jobs = []
    while batch := claim(worker_id="w", queues=["default"]):
        jobs.extend(batch)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def route(mine: list) -> None:
        try:
            barrier.wait()
            for job in mine:
                for attempt in range(20):
                    try:
                        route_event(job)
                        break
                    except exceptions.LeaseLost:
                        raise
                    except Exception:  # a lock conflict on a database that locks whole files: try again
                        if attempt == 19:
                            raise
                        time.sleep(0.05)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=route, args=(jobs[i::2],)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert Debounce.objects.count() == 1 and Debounce.objects.get().events == 12
    assert OutboxJob.objects.filter(kind=JobKind.FIRE_DEBOUNCE).count() == 1
    fast_forward()
    run_worker()
    assert ExecutionRun.objects.count() == 1


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"debounce_seconds": 0, "debounce_key": "{{ event.payload.id }}"}, "debounce_seconds"),
        ({"debounce_seconds": 86401, "debounce_key": "{{ event.payload.id }}"}, "debounce_seconds"),
        ({"debounce_seconds": 10}, "debounce_key"),
        ({"debounce_seconds": 10, "debounce_key": "{{ event.payload.id"}, "debounce_key"),
        ({"debounce_seconds": 10, "debounce_key": "{{ steps.x.output }}"}, "debounce_key"),
        ({"debounce_seconds": 10, "debounce_key": "{{ event.payload.id | upper }}"}, "debounce_key"),
        ({"debounce_key": "{{ event.payload.id }}"}, "debounce_seconds"),
    ],
)
def test_invalid_debounce_settings_are_rejected(workflow_factory, values, field):
    rule = RuleSpec(name="sync", event_type="order.*", workflow=workflow_factory(slug="sync"), **values)
    with pytest.raises(exceptions.ValidationError) as caught:
        save_rule(rule, actor="alice")
    assert caught.value.code == "validation_error" and caught.value.details["field"] == field
    assert not RuleSpec.objects.exists()


def test_the_api_exposes_and_validates_debounce(workflow_factory):
    workflow_factory(slug="sync")
    user = User.objects.create_superuser("admin", "admin@example.com", None)
    auth = {"Authorization": f"Bearer {create_token(user).plaintext}"}
    client = Client(headers=auth)

    def post(body: dict) -> object:
        return client.post("/automate/api/v1/rules/", body, content_type="application/json")

    base = {"name": "sync", "event_type": "order.*", "workflow": "sync"}
    created = post({**base, "debounce_seconds": 30, "debounce_key": "{{ event.payload.id }}"})
    assert created.status_code == 201, created.json()
    assert (created.json()["debounce_seconds"], created.json()["debounce_key"]) == (30, "{{ event.payload.id }}")
    for body, field in [
        ({"debounce_seconds": 30}, "debounce_key"),
        ({"debounce_seconds": 0, "debounce_key": "k"}, "debounce_seconds"),
        ({"debounce_seconds": 30, "debounce_key": "{{ run.id }}"}, "debounce_key"),
        ({"debounce_seconds": 30, "debounce_key": "x" * 256}, "debounce_key"),
    ]:
        answer = post({**base, "name": "other", **body})
        assert answer.status_code == 400 and answer.json()["code"] == "validation_error", answer.json()
        assert field in answer.json()["details"]["fields"], answer.json()
    rule_id = created.json()["id"]
    cleared = client.patch(
        f"/automate/api/v1/rules/{rule_id}/",
        {"debounce_seconds": None, "debounce_key": ""},
        content_type="application/json",
    )
    assert cleared.status_code == 200 and cleared.json()["debounce_seconds"] is None


def test_the_admin_form_checks_the_debounce_settings(workflow_factory):
    workflow = workflow_factory(slug="sync")
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", None))
    form = {"name": "sync", "tenant": "", "event_type": "order.*", "condition": "true", "workflow": workflow.pk}
    form.update(priority="0", enabled="on", debounce_seconds="30", debounce_key="")
    answer = client.post("/admin/automate/rulespec/add/", form)
    assert answer.status_code == 200 and "debounce_key" in answer.context["adminform"].form.errors
    assert not RuleSpec.objects.exists()
    answer = client.post("/admin/automate/rulespec/add/", {**form, "debounce_key": "{{ event.payload.id }}"})
    assert answer.status_code == 302, answer.context["adminform"].form.errors
    rule = RuleSpec.objects.get()
    assert (rule.debounce_seconds, rule.debounce_key) == (30, "{{ event.payload.id }}")
