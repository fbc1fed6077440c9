"""Path-substitution templating: types kept, defaults, and nothing that can reach Python objects."""

from __future__ import annotations

import time

import pytest

from django_automate.workflows.templating import TemplateError, render

DATA = {
    "event": {"payload": {"id": 7, "total": 12.5, "tags": ["a", "b"], "customer": {"email": "x@example.com"}}},
    "steps": {"notify": {"output": {"status": 201}}},
    "run": {"id": "r-1"},
    "trace_id": "t-1",
}


def test_single_placeholder_keeps_the_json_type():
    assert render("{{ event.payload.id }}", DATA) == 7
    assert render("{{event.payload.tags}}", DATA) == ["a", "b"]
    assert render("{{ steps.notify.output.status }}", DATA) == 201


def test_placeholders_inside_text_are_substituted_as_text():
    assert render("order {{ event.payload.id }} ({{ event.payload.total }})", DATA) == "order 7 (12.5)"
    assert render("tags={{ event.payload.tags }}", DATA) == 'tags=["a","b"]'
    assert render("{{ run.id }}/{{ trace_id }}", DATA) == "r-1/t-1"


def test_list_indexes_and_nested_structures_render():
    assert render({"first": "{{ event.payload.tags.0 }}", "list": ["{{ run.id }}", 3]}, DATA) == {
        "first": "a",
        "list": ["r-1", 3],
    }


def test_missing_path_is_an_error_unless_a_default_is_given():
    with pytest.raises(TemplateError) as info:
        render("{{ event.payload.nope }}", DATA)
    assert info.value.details == {"path": "event.payload.nope"}
    assert render('{{ event.payload.nope | default("n/a") }}', DATA) == "n/a"
    assert render("{{ event.payload.nope | default(0) }}", DATA) == 0
    assert render("x{{ event.payload.nope | default(null) }}", DATA) == "xnull"


def test_logic_values_are_computed_with_json_logic():
    assert render({"$logic": {"cat": ["o-", {"var": "event.payload.id"}]}}, DATA) == "o-7"


@pytest.mark.parametrize(
    "payload",
    [
        "{{ event.__class__ }}",
        "{{ event.payload.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ event|attr('__class__') }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{{ range(10**9) }}",
        "{{ 7*7 }}",
        "{{ event.payload.id.real }}",
        "{% for x in range(100) %}{% endfor %}{{ x }}",
        "{{ config }}",
        "{0.__class__}",
    ],
)
def test_template_injection_payloads_are_rejected_or_inert(payload):
    started = time.monotonic()
    try:
        result = render(payload, DATA)
    except TemplateError:
        result = None
    assert time.monotonic() - started < 1
    assert result is None or result == payload or "class" not in str(result).lower()
