"""Operator secrets across tenants: a tenant's run uses its own secrets, and the operator's only when shared.

The operator's secrets are those of the environment, the settings and the database rows of
tenant ``""``. A tenant run resolves one of them only when its name is listed in
``AUTOMATE["SHARED_SECRETS"]``; otherwise the step fails with ``secret_not_found``, exactly as
for a name nobody defined, and nothing is sent.
"""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

import django_automate
from django_automate.models import ExecutionRun, StepRun
from django_automate.secrets.refs import Resolver, SecretNotFound, env_var_name
from django_automate.secrets.store import put_secret

pytestmark = pytest.mark.django_db(transaction=True)

KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _operator_secrets(settings, monkeypatch):
    settings.AUTOMATE = {**settings.AUTOMATE, "ENCRYPTION_KEYS": [KEY], "SECRETS": {"FROM_SETTINGS": "op-settings"}}
    monkeypatch.setenv(env_var_name("FROM_ENV"), "op-env")


def call_with(token_ref: str, url: str) -> list[dict]:
    return [
        {
            "id": "call",
            "connector": "http",
            "action": "request",
            "with": {"method": "POST", "url": f"{url}/hook", "json": {"token": token_ref}},
        }
    ]


def run_for(tenant: str, ref: str, http_sink, workflow_factory, rule_factory, run_worker) -> StepRun:
    workflow = workflow_factory(steps=call_with(ref, http_sink.url), slug=f"wf-{tenant or 'op'}", tenant=tenant)
    rule_factory(workflow, tenant=tenant)
    django_automate.emit("order.created", {"id": 1}, tenant=tenant)
    run_worker()
    return StepRun.objects.get(run__tenant=tenant)


@pytest.mark.parametrize("name", ["FROM_DB", "FROM_ENV", "FROM_SETTINGS"])
def test_a_tenant_run_cannot_use_an_operator_secret_that_is_not_shared(
    name, http_sink, workflow_factory, rule_factory, run_worker
):
    put_secret(name="FROM_DB", value="op-db")
    step = run_for("acme", f"$secret:{name}", http_sink, workflow_factory, rule_factory, run_worker)
    assert step.status == "failed"
    assert step.error["code"] == "secret_not_found"
    assert step.error["message"] == f"Secret {name!r} is not defined."  # the same words as for no secret at all
    assert http_sink.requests == []
    assert ExecutionRun.objects.get().status == "failed"


def test_the_operators_own_runs_use_every_operator_secret(http_sink, workflow_factory, rule_factory, run_worker):
    put_secret(name="FROM_DB", value="op-db")
    steps = [{**call_with(f"$secret:{name}", http_sink.url)[0], "id": name.lower()} for name in ("FROM_DB", "FROM_ENV")]
    rule_factory(workflow_factory(steps=steps))
    django_automate.emit("order.created", {"id": 1})
    run_worker()
    assert [r["body"] for r in http_sink.requests] == [b'{"token":"op-db"}', b'{"token":"op-env"}']


@pytest.mark.parametrize(
    ("name", "value"), [("FROM_DB", "op-db"), ("FROM_ENV", "op-env"), ("FROM_SETTINGS", "op-settings")]
)
def test_a_shared_operator_secret_resolves_for_a_tenant_run(
    name, value, settings, http_sink, workflow_factory, rule_factory, run_worker
):
    settings.AUTOMATE = {**settings.AUTOMATE, "SHARED_SECRETS": [name]}
    put_secret(name="FROM_DB", value="op-db")
    step = run_for("acme", f"$secret:{name}", http_sink, workflow_factory, rule_factory, run_worker)
    assert step.status == "succeeded"
    [request] = http_sink.requests
    assert request["body"] == f'{{"token":"{value}"}}'.encode()


def test_a_tenants_own_secret_is_preferred_over_a_shared_operator_secret(
    settings, http_sink, workflow_factory, rule_factory, run_worker
):
    settings.AUTOMATE = {**settings.AUTOMATE, "SHARED_SECRETS": ["FROM_DB", "FROM_ENV"]}
    put_secret(name="FROM_DB", value="op-db")
    put_secret(name="FROM_ENV", value="acme-own", tenant="acme")
    put_secret(name="FROM_DB", value="acme-db", tenant="acme")
    put_secret(name="FROM_DB", value="globex-db", tenant="globex")
    resolver = Resolver(tenant="acme")
    assert resolver.resolve_string("$secret:FROM_ENV") == "acme-own"  # before the operator's environment
    assert resolver.resolve_string("$secret:FROM_DB") == "acme-db"
    assert Resolver(tenant="initech").resolve_string("$secret:FROM_DB") == "op-db"
    step = run_for("acme", "$secret:FROM_DB", http_sink, workflow_factory, rule_factory, run_worker)
    assert step.status == "succeeded"
    assert http_sink.requests[0]["body"] == b'{"token":"acme-db"}'


def test_another_tenants_secret_is_never_shared_even_when_its_name_is_listed(settings):
    settings.AUTOMATE = {**settings.AUTOMATE, "SHARED_SECRETS": ["ONLY_GLOBEX"]}
    put_secret(name="ONLY_GLOBEX", value="globex-value", tenant="globex")
    with pytest.raises(SecretNotFound):
        Resolver(tenant="acme").resolve_string("$secret:ONLY_GLOBEX")
    with pytest.raises(SecretNotFound):
        Resolver().resolve_string("$secret:ONLY_GLOBEX")  # the operator does not read tenants' secrets either
    assert Resolver(tenant="globex").resolve_string("$secret:ONLY_GLOBEX") == "globex-value"
