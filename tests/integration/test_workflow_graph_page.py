"""Workflow versions render their step graph: layers by longest path, implicit needs, marked wait steps."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from django_automate.workflows import publishing
from django_automate.workflows.layout import layout

pytestmark = pytest.mark.django_db


def log(step_id: str, **extra: object) -> dict:
    return {"id": step_id, "connector": "log", "action": "write", "with": {"message": "hi"}, **extra}


GRAPH = [
    log("a"),
    log("b", needs=["a"]),
    log("c", needs=["a"]),
    log("d", needs=["b", "c"]),
    log("e", needs=["a"]),  # a short branch: its layer is 1, not the join's
    log("f", for_each="{{ event.payload.lines }}", needs=["d", "e"]),
    {"id": "nap", "sleep": {"seconds": 5}},  # no needs: after the step listed before it
    {"id": "paid", "wait_for": {"event_type": "x.paid", "correlate": {"path": "payload.id", "value": "1"}}},
    {"id": "ok", "approval": {"title": "Ship?"}},
]


def test_layers_are_the_longest_chain_of_needs_including_implicit_ones():
    drawn = layout({"steps": GRAPH})
    assert {n.step_id: n.layer for n in drawn.nodes} == {
        "a": 0, "b": 1, "c": 1, "e": 1, "d": 2, "f": 3, "nap": 4, "paid": 5, "ok": 6,
    }  # fmt: skip
    assert {n.step_id: n.kind for n in drawn.nodes if n.kind != "step"} == {
        "f": "for_each", "nap": "sleep", "paid": "wait_for", "ok": "approval",
    }  # fmt: skip
    assert sorted(drawn.edges) == sorted(
        [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("a", "e"), ("d", "f"), ("e", "f"), ("f", "nap"),
         ("nap", "paid"), ("paid", "ok")]
    )  # fmt: skip
    assert [n.position for n in drawn.nodes if n.layer == 1] == [0, 1, 2] and drawn.width == 3


def test_a_chain_without_needs_is_one_step_per_layer():
    drawn = layout({"steps": [log("x"), log("y"), log("z")]})
    assert [(n.step_id, n.layer) for n in drawn.nodes] == [("x", 0), ("y", 1), ("z", 2)]
    assert drawn.edges == [("x", "y"), ("y", "z")]


def test_the_version_page_and_the_diff_draw_the_graph(workflow_factory):
    workflow = workflow_factory(steps=[log("a"), log("b")])
    publishing.publish(workflow, {"steps": GRAPH})
    workflow.refresh_from_db()
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.com", "pw"))
    page = client.get(f"/admin/automate/workflowversion/{workflow.current_version_id}/change/").content.decode()
    nodes = re.findall(r'class="automate-graph-node" data-step="(\w+)" data-kind="(\w+)"', page)
    assert ("ok", "approval") in nodes and ("f", "for_each") in nodes and len(nodes) == len(GRAPH)
    assert page.count('class="automate-graph-edge"') == 10 and "automate-json" in page  # next to the definition
    assert 'data-from="a" data-to="e"' in page
    diff = client.get(f"/admin/automate/workflow/{workflow.pk}/diff/?a=1&b=2").content.decode()
    assert diff.count('<svg class="automate-graph"') == 2 and 'id="automate-graph-b"' in diff
