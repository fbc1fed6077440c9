"""Path-substitution templating: types kept, defaults, and nothing that can reach Python objects."""

from __future__ import annotations

import time

import pytest

from django_automate import exceptions
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


def test_whitespace_around_a_single_placeholder_still_keeps_the_type():
    assert render("  {{ event.payload.total }}\n", DATA) == 12.5


def test_defaults_are_json_literals_of_any_type():
    assert render('{{ event.payload.nope | default(")") }}', DATA) == ")"
    assert render('{{ event.payload.nope | default({"a": [1, 2]}) }}', DATA) == {"a": [1, 2]}
    assert render("{{ event.payload.nope | default([]) }}", DATA) == []
    assert render('{{ event.payload.id | default("unused") }}', DATA) == 7  # present values win
    for bad in ("default('single')", "default(NaN)", "default()", "default(1) | upper"):
        with pytest.raises(TemplateError):
            render("{{ event.payload.nope | " + bad + " }}", DATA)


def test_an_unclosed_placeholder_is_an_error_not_literal_text():
    with pytest.raises(TemplateError, match="never closed"):
        render("Order {{ event.payload.id", DATA)


def test_double_underscore_names_are_rejected_even_when_they_are_dict_keys():
    with pytest.raises(TemplateError, match="double underscores"):
        render("{{ event.payload.__proto__ }}", {"event": {"payload": {"__proto__": 1}}})
    assert render("{{ event.payload._id }}", {"event": {"payload": {"_id": 1}}}) == 1


def test_text_without_placeholders_is_returned_unchanged():
    for text in ("${7*7}", "<%= 7*7 %>", "{ {x} }", "#{x}", "{0.__class__}", "}}"):
        assert render(text, DATA) == text


def test_values_that_are_not_json_cannot_be_inserted_into_text():
    with pytest.raises(TemplateError, match="not JSON"):
        render("x {{ event.payload.obj }}", {"event": {"payload": {"obj": object()}}})


def test_render_refuses_structures_nested_deeper_than_the_limit():
    deep: object = "{{ run.id }}"
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TemplateError, match="nested deeper"):
        render(deep, DATA)
    shallow: object = "{{ run.id }}"
    expected: object = "r-1"
    for _ in range(10):
        shallow, expected = {"a": shallow}, {"a": expected}
    assert render(shallow, DATA) == expected


@pytest.fixture
def resolver(settings):
    from django_automate.secrets.refs import Resolver

    settings.AUTOMATE = {**settings.AUTOMATE, "SECRETS": {"TOKEN": "s3cr3t"}}
    return Resolver()


HOSTILE = {**DATA, "event": {"payload": {"ref": "$secret:TOKEN", "name": "TOKEN", "list": ["$secret:TOKEN"]}}}


def test_secret_references_written_in_the_definition_resolve_in_literal_text(resolver):
    assert render("Bearer $secret:TOKEN", DATA, resolver) == "Bearer s3cr3t"
    assert render({"h": ["$secret:TOKEN"]}, DATA, resolver) == {"h": ["s3cr3t"]}
    assert render("id={{ run.id }};k=$secret:TOKEN", DATA, resolver) == "id=r-1;k=s3cr3t"
    assert render("$secret:TOKEN:{{ run.id }}", DATA, resolver) == "s3cr3t:r-1"
    assert resolver.values == {"s3cr3t"}
    assert render("Bearer $secret:TOKEN", DATA) == "Bearer $secret:TOKEN"  # without a resolver: left as written


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.payload.ref }}",
        "x {{ event.payload.ref }} y",
        "{{ event.payload.list }}",
        '{{ event.payload.nope | default("$secret:TOKEN") }}',
        'pre {{ event.payload.nope | default("$secret:TOKEN") }}',
        "$secret:{{ event.payload.name }}",
        {"$logic": {"var": "event.payload.ref"}},
        {"$logic": {"cat": ["$secret:", {"var": "event.payload.name"}]}},
        {"$logic": {"cat": ["$secret:", "TOKEN"]}},
    ],
)
def test_references_that_come_from_data_or_computation_are_never_resolved(resolver, template):
    rendered = render({"v": template}, HOSTILE, resolver)
    assert "s3cr3t" not in repr(rendered)
    assert "$secret:TOKEN" in repr(rendered)
    assert resolver.values == set()


@pytest.mark.parametrize("number", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused_with_the_field_that_holds_them(number):
    data = {**DATA, "event": {"payload": {"qty": number, "items": [{"qty": number}]}}}
    with pytest.raises(TemplateError) as info:
        render({"json": {"qty": "{{ event.payload.qty }}"}}, data)
    assert info.value.details["field"] == "with.json.qty"
    with pytest.raises(TemplateError) as info:
        render({"json": "{{ event.payload.items }}"}, data)
    assert info.value.details["field"] == "with.json[0].qty"
    with pytest.raises(TemplateError) as info:
        render({"body": "qty={{ event.payload.qty }}"}, data)
    assert info.value.details["field"] == "with.body"


def test_a_computed_infinity_is_refused():
    with pytest.raises(exceptions.ValidationError) as info:
        render({"n": {"$logic": {"*": [{"var": "event.payload.total"}, 1e308]}}}, DATA)
    assert info.value.details["field"] == "with.n"


def test_the_rendered_input_is_capped_while_it_is_built():
    data = {**DATA, "event": {"payload": {"blob": "x" * 1000}}}
    assert len(render(["{{ event.payload.blob }}"] * 9, data, max_bytes=10_000)) == 9
    with pytest.raises(TemplateError) as info:
        render(["{{ event.payload.blob }}"] * 11, data, max_bytes=10_000)
    assert info.value.details == {"field": "with[9]", "limit": 10_000}
    with pytest.raises(TemplateError):
        render({"a": "{{ event.payload.blob }}-" * 11}, data, max_bytes=10_000)
