"""The connector registry: built-ins, entry points and settings, collisions, laziness and system checks."""

from __future__ import annotations

import sys
import uuid

import pytest

from django_automate import exceptions
from django_automate.checks import check_connectors
from django_automate.connectors import registry
from django_automate.connectors.http import HttpConnector
from django_automate.connectors.log import LogConnector
from tests.unit.connectors.plugins import GREETER, install


@pytest.fixture
def plugin_dir(tmp_path, monkeypatch):
    """A directory on sys.path to install distributions into; module names are unique per test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.clear_cache()
    yield tmp_path
    monkeypatch.undo()
    registry.clear_cache()


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def ids(settings, value=None):
    if value is not None:
        settings.AUTOMATE = value
    return sorted(m.id for m in check_connectors())


def test_defaults_have_no_connector_problems(settings):
    assert ids(settings, {}) == []
    assert ids(settings, {"HTTP_ALLOW_PRIVATE_NETWORKS": True}) == []


def test_an_entry_point_connector_is_found_lazily_and_described(settings, plugin_dir):
    module = unique("greeter")
    install(plugin_dir, "greeter-plugin", {module: GREETER}, {"greeter": f"{module}:GreeterConnector"})
    assert registry.import_strings()["greeter"] == f"{module}.GreeterConnector"
    assert module not in sys.modules  # discovery reads metadata only
    connector = registry.get_connector("greeter")
    assert connector.type == "greeter" and module in sys.modules
    [described] = [d for d in registry.describe_connectors() if d["type"] == "greeter"]
    assert described["source"] == "entry_point"
    assert described["description"] == "Greets people."
    assert described["actions"][0]["name"] == "greet"
    assert described["actions"][0]["input_schema"]["required"] == ["name"]
    assert ids(settings) == []


def test_an_entry_point_cannot_replace_a_built_in(settings, plugin_dir):
    module = unique("evil")
    install(plugin_dir, "evil-plugin", {module: GREETER}, {"http": f"{module}:GreeterConnector"})
    assert isinstance(registry.get_connector("http"), HttpConnector)
    assert ids(settings) == ["automate.E033"]


def test_two_entry_points_with_one_name_need_a_setting_to_choose(settings, plugin_dir):
    first, second = unique("one"), unique("two")
    install(plugin_dir / "a", "crm-one", {first: GREETER}, {"crm": f"{first}:GreeterConnector"})
    install(plugin_dir / "b", "crm-two", {second: GREETER}, {"crm": f"{second}:GreeterConnector"})
    sys.path[:0] = [str(plugin_dir / "a"), str(plugin_dir / "b")]
    try:
        registry.clear_cache()
        with pytest.raises(exceptions.ImproperlyConfigured, match="several entry points"):
            registry.get_connector("crm")
        assert ids(settings) == ["automate.E034"]
        settings.AUTOMATE = {**settings.AUTOMATE, "CONNECTORS": {"crm": f"{second}.GreeterConnector"}}
        assert type(registry.get_connector("crm")).__module__ == second
        assert ids(settings) == ["automate.W030"]
    finally:
        sys.path[:2] = []


def test_settings_may_replace_a_built_in_with_a_warning(settings):
    settings.AUTOMATE = {"CONNECTORS": {"log": "django_automate.connectors.http.HttpConnector"}}
    assert isinstance(registry.get_connector("log"), HttpConnector)
    assert ids(settings) == ["automate.W030"]


def test_a_bad_import_string_is_reported_and_leaves_other_connectors_working(settings):
    settings.AUTOMATE = {"CONNECTORS": {"crm": "myproject.nope.CrmConnector"}}
    with pytest.raises(exceptions.ImproperlyConfigured) as caught:
        registry.get_connector("crm")
    assert "AUTOMATE['CONNECTORS']['crm']" in caught.value.message
    assert isinstance(registry.get_connector("log"), LogConnector)
    assert ids(settings) == ["automate.E030"]
    [described] = [d for d in registry.describe_connectors() if d["type"] == "crm"]
    assert described["actions"] == [] and "Could not import" in described["error"]


@pytest.mark.parametrize(
    "path",
    [
        "tests.unit.connectors.broken.NoExecute",
        "tests.unit.connectors.broken.BadType",
        "tests.unit.connectors.broken.BadSchema",
        "tests.unit.connectors.broken.NeedsArguments",
        "tests.unit.connectors.broken.ACTIONS",
    ],
)
def test_something_that_is_not_a_connector_is_reported(settings, path):
    settings.AUTOMATE = {"CONNECTORS": {"crm": path}}
    with pytest.raises(exceptions.ImproperlyConfigured, match="is not a valid connector"):
        registry.get_connector("crm")
    assert ids(settings) == ["automate.E031"]


def test_unknown_connector_is_a_validation_error():
    with pytest.raises(exceptions.ValidationError):
        registry.get_connector("nope")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"CONNECTORS": ["x"]}, ["automate.E032"]),
        ({"CONNECTORS": {"Bad Name": "a.B"}}, ["automate.E032"]),
        ({"PYTHON_ACTIONS": ["x"]}, ["automate.E035"]),
        ({"PYTHON_ACTIONS": {"Bad Name": "tests.integration.connectors.actions.plain"}}, ["automate.E035"]),
        ({"PYTHON_ACTIONS": {"a": "tests.integration.connectors.actions.nothing"}}, ["automate.E035"]),
        ({"PYTHON_ACTIONS": {"a": "tests.integration.connectors.actions.NOT_CALLABLE"}}, ["automate.E035"]),
        ({"PYTHON_ACTIONS": {"a": "tests.unit.connectors.broken.bad_schema_action"}}, ["automate.E035"]),
        ({"PYTHON_ACTIONS": {"a": "tests.integration.connectors.actions.enrich"}}, []),
        ({"HTTP_ALLOWLIST": "api.example.com"}, ["automate.E036"]),
        ({"HTTP_ALLOWLIST": ["https://api.example.com/"]}, ["automate.E036"]),
        ({"HTTP_ALLOWLIST": ["api.example.com", "*.example.org:8443", "[2001:db8::1]:443"]}, []),
        ({"HTTP_ALLOWED_NETWORKS": ["10.0.0.0/33"]}, ["automate.E037"]),
        ({"HTTP_ALLOWED_NETWORKS": ["10.20.0.0/16", "fd12::/48"]}, []),
        ({"SLACK_API_BASE_URL": "slack.com/api"}, ["automate.E038"]),
        ({"HTTP_MAX_RESPONSE_BYTES": 0}, ["automate.E039"]),
        ({"HTTP_CA_BUNDLE": "/nonexistent/ca.pem"}, ["automate.E039"]),
    ],
)
def test_connector_settings_are_checked(settings, value, expected):
    assert ids(settings, value) == expected


def test_describe_connectors_lists_every_built_in_with_its_input_schemas(settings):
    settings.AUTOMATE = {"PYTHON_ACTIONS": {"enrich": "tests.integration.connectors.actions.enrich"}}
    described = {d["type"]: d for d in registry.describe_connectors()}
    assert set(described) == {"email", "http", "log", "python", "slack", "task"}
    assert [a["name"] for a in described["slack"]["actions"]] == ["post_message", "webhook"]
    assert described["http"]["actions"][0]["input_schema"]["required"] == ["url"]
    [enrich] = described["python"]["actions"]
    assert (enrich["name"], enrich["description"]) == ("enrich", "Look up an order's customer.")
    assert all(d["source"] == "builtin" and d["description"] for d in described.values())
