"""Schemathesis over the whole OpenAPI document: valid and invalid inputs, and stateful sequences via links.

Every built-in check runs on every operation: each response is documented (status, content
type, headers, body schema), none is a 5xx, valid requests are accepted, invalid requests are
rejected, methods the document does not list answer 405 with ``Allow``, deleted resources are
gone, missing credentials are refused; and every non-2xx body is a NormalizedError. At least
``AUTOMATE_FUZZ_CASES`` (default 2,000) generated requests are made. This module runs on the
SQLite suite only, to keep CI time bounded; the API code it exercises is the same on every
database.
"""

from __future__ import annotations

import math
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection

if connection.vendor != "sqlite":
    pytest.skip("the schema fuzz runs on the SQLite suite only (CI time)", allow_module_level=True)

import datetime as dt

import jsonschema
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig

from django_automate.api import pagination
from django_automate.api.schema import openapi_document
from django_automate.api.tokens import create_token
from django_automate.audit import log as audit
from django_automate.ingestion.events import record_event
from django_automate.models import Budget, ExecutionRun, Schedule
from django_automate.secrets import store

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/automate/api/v1/schema/"
#: Generated requests in all (``AUTOMATE_FUZZ_CASES``); about a fifth of them in stateful sequences.
MIN_CASES = int(os.environ.get("AUTOMATE_FUZZ_CASES", "2000"))
STATEFUL_STEPS = 8
load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
#: The document's 400 answers name, after this phrase, the rules a JSON Schema cannot express.
RULES_BEYOND_SCHEMA = "Also refused, by rules this document cannot state:"
#: Operations whose valid-looking requests may still be refused (400) by such a stated rule; for
#: them "valid data is accepted" also expects 400, for every other operation it does not.
STATED_RULES = {
    # A scheme other than "none" needs a secret; event_type placeholders have a syntax.
    "endpoints_create": "needs at least one secret",
    "endpoints_update": "needs at least one secret",
    "endpoints_partial_update": "needs at least one secret",
    # The workflow slug must exist in the tenant; the condition must be valid JSON Logic.
    "rules_create": "existing workflow",
    "rules_update": "existing workflow",
    "rules_partial_update": "existing workflow",
    # An unsaved rule's condition must be valid JSON Logic.
    "rules_test_create": "valid JSON Logic",
    # A cron expression the scheduler can run, an IANA time zone; a partial update keeps one cadence.
    "schedules_create": "IANA time zone",
    "schedules_update": "IANA time zone",
    "schedules_partial_update": "exactly one of `cron` and `interval_seconds`",
    # A secret cannot be renamed.
    "secrets_update": "cannot be renamed",
    "secrets_partial_update": "cannot be renamed",
    # A definition must pass the publish checks (steps, templates, connector actions).
    "workflows_create": "publish checks",
    "workflows_publish_create": "publish checks",
}
SETTINGS: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck), "derandomize": True}
calls: Counter[str] = Counter()

DOCUMENT = openapi_document()
OPERATION_IDS = {op["operationId"]: op for item in DOCUMENT["paths"].values() for op in item.values()}
ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]  # schemathesis' default
CONFIG = SchemathesisConfig.from_dict(
    {
        # The parser refuses NUL in any string of a body, ignored extra keys too (stated in every 400 answer).
        "generation": {"allow-x00": False},
        "operations": [
            {
                "include-operation-id": operation_id,
                "checks": {"positive_data_acceptance": {"expected-statuses": [*ACCEPTED, "400"]}},
            }
            for operation_id in STATED_RULES
        ],
    }
)


def _cursors(paginator: type[pagination.KeysetPagination]) -> st.SearchStrategy[str]:
    """Cursors as the server's links carry them: a key position, or (lists by time) a time boundary."""
    zone = st.just(dt.timezone.utc) if django_settings.USE_TZ else st.none()
    times = st.datetimes(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1), timezones=zone)
    keys: st.SearchStrategy[tuple[Any, ...]]
    if paginator.key_fields == ("seq",):
        keys = st.tuples(st.integers(0, 2**63 - 1))
    else:
        keys = st.tuples(times, st.uuids())
    positions = st.builds(pagination.Position, values=keys, reverse=st.booleans())
    if paginator.uses_horizon:
        positions |= st.builds(pagination.Position, boundary=times, reverse=st.booleans())
    return positions.map(paginator().encode_cursor)


for _paginator in (
    pagination.EventPagination,
    pagination.RunPagination,
    pagination.AuditPagination,
    pagination.ApprovalPagination,
    pagination.TaskPagination,
):
    schemathesis.openapi.format(_paginator.cursor_format, _cursors(_paginator))

# Loaded while the tests are collected: the schema endpoint needs no database access.
schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, get_wsgi_application(), config=CONFIG)
OPERATIONS = sum(len(item) for item in DOCUMENT["paths"].values())
# Generators stop early on operations with few distinct inputs, hence the margin.
EXAMPLES_PER_OPERATION = math.ceil(MIN_CASES * 0.8 * 1.25 / OPERATIONS)
STATEFUL_SCENARIOS = math.ceil(MIN_CASES * 0.2 / STATEFUL_STEPS)
schema.config.generation.update(max_examples=EXAMPLES_PER_OPERATION, database="none")
schema.config.phases.update(phases=["examples", "fuzzing", "stateful"])
ERROR_VALIDATOR = jsonschema.Draft7Validator(
    {**DOCUMENT["components"]["schemas"]["NormalizedError"], "components": DOCUMENT["components"]}
)


def test_each_exception_is_a_rule_the_document_states() -> None:
    for operation_id, rule in STATED_RULES.items():
        refused = OPERATION_IDS[operation_id]["responses"]["400"]["description"]
        assert RULES_BEYOND_SCHEMA in refused, operation_id
        assert rule in refused.split(RULES_BEYOND_SCHEMA, 1)[1], operation_id
    stating = {
        operation_id
        for operation_id, operation in OPERATION_IDS.items()
        if RULES_BEYOND_SCHEMA in operation["responses"].get("400", {}).get("description", "")
    }
    assert stating == set(STATED_RULES)


def normalized_error_body(ctx: Any, response: Any, case: Any) -> bool | None:
    """Every non-2xx answer is a NormalizedError whose trace_id is the X-Trace-Id header."""
    if 200 <= response.status_code < 300:
        return None
    body = response.json()
    ERROR_VALIDATOR.validate(body)
    assert body["trace_id"] == response.headers["x-trace-id"][0], "trace_id differs from X-Trace-Id"
    return True


def validate(case: Any, response: Any, headers: dict[str, str]) -> None:
    """Every check; ``headers`` are the credentials, so auth checks know they were valid ones."""
    case.validate_response(response, checks=ALL_CHECKS, additional_checks=[normalized_error_body], headers=headers)


@pytest.fixture(autouse=True)
def keep_connection() -> Iterator[None]:
    """Requests go through the real WSGI handler; like Django's test client, keep the test's connection open."""
    for signal in (request_started, request_finished):
        signal.disconnect(close_old_connections)
    yield
    for signal in (request_started, request_finished):
        signal.connect(close_old_connections)


@pytest.fixture(scope="module", autouse=True)
def enough_cases(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    fuzzed = {label for label in calls if not label.startswith("stateful ")}
    stateful = sum(n for label, n in calls.items() if label.startswith("stateful "))
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(
            f"schemathesis: {sum(calls.values())} requests ({sum(calls.values()) - stateful} per operation"
            f" over {len(fuzzed)} operations, {stateful} in stateful sequences),"
            f" {len(ALL_CHECKS)} checks each"
        )
    if len(fuzzed) == OPERATIONS and stateful:  # the whole module ran, not a -k selection
        assert sum(calls.values()) >= MIN_CASES, f"only {sum(calls.values())} requests were generated"


@pytest.fixture
def token(workflow_factory, rule_factory, endpoint_factory, django_user_model) -> str:
    """A superuser's token, and one of everything for the generated requests to find."""
    workflow = workflow_factory()
    rule_factory(workflow)
    endpoint_factory()
    event = record_event(type="order.created", payload={"id": 1}, source="api", trace_id=str(uuid.uuid4())).event
    ExecutionRun.objects.create(
        event=event, workflow=workflow, workflow_version=workflow.current_version, status="failed", trace_id="x"
    )
    Schedule.objects.create(name="nightly", cron="0 3 * * *")
    store.put_secret(name="TOKEN", value="v", actor="test")
    Budget.objects.create(scope="global", metric="runs", limit=10, period="day")
    audit.record("test.seeded", tenant="", trace_id=event.trace_id)
    user = django_user_model.objects.create_superuser("fuzz", "fuzz@example.com", None)
    return create_token(user).plaintext


@schema.parametrize()
@settings(phases=[Phase.explicit, Phase.generate], **SETTINGS)
def test_every_operation_answers_as_documented(case, token):
    headers = {"Authorization": f"Bearer {token}"}
    response = case.call(headers=headers)
    calls[case.operation.label] += 1
    validate(case, response, headers)


def test_stateful_sequences_follow_the_links(token):
    class Machine(schema.as_state_machine()):  # type: ignore[misc]
        """Each scenario starts from the seeded rows: its writes are rolled back afterwards."""

        def setup(self) -> None:
            self.scenario = transaction.atomic()
            self.scenario.__enter__()

        def teardown(self) -> None:
            transaction.set_rollback(True)
            self.scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": {"Authorization": f"Bearer {token}"}}

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            calls["stateful " + case.operation.label] += 1
            if "{" in case.operation.path and 200 <= response.status_code < 300:
                reached["found"] += 1  # a path parameter that led to a row: a followed link
            validate(case, response, self.get_call_kwargs(case)["headers"])

    reached: Counter[str] = Counter()
    Machine.run(settings=settings(max_examples=STATEFUL_SCENARIOS, stateful_step_count=STATEFUL_STEPS, **SETTINGS))
    assert len({label for label in calls if label.startswith("stateful ")}) >= 15
    assert reached["found"] > 0, "no sequence reached a created or listed row through a link"
