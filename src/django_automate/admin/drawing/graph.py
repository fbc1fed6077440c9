"""A workflow version's step graph (:mod:`django_automate.workflows.layout`) as inline SVG.

Layers run left to right; each step is a ``<g class="automate-graph-node">`` with its id and
kind as ``data-`` attributes; each need is an arrow ``<line class="automate-graph-edge">``
from the needed step to the step that needs it. for_each, sleep, wait_for and approval steps
have their own fill and say so under their id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from django_automate.admin.drawing.svg import FONT
from django_automate.workflows.layout import Layout, Node, layout

NODE_WIDTH = 160
NODE_HEIGHT = 40
COLUMN = 210
ROW = 60
MARGIN = 16
KIND_FILLS = {
    "step": "#e3f2fd",
    "for_each": "#fff3e0",
    "sleep": "#f3e5f5",
    "wait_for": "#e8f5e9",
    "approval": "#fffde7",
}
ARROW = (
    '<defs><marker id="automate-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>'
)


def graph_svg(definition: Mapping[str, Any]) -> SafeString:
    """The step graph of ``definition``, or a note when it has no steps."""
    drawn = layout(definition)
    if not drawn.nodes:
        return format_html('<p class="automate-graph-empty">{}</p>', "No steps.")
    width = 2 * MARGIN + (drawn.layers - 1) * COLUMN + NODE_WIDTH
    height = 2 * MARGIN + (drawn.width - 1) * ROW + NODE_HEIGHT
    return format_html(
        '<svg class="automate-graph" xmlns="http://www.w3.org/2000/svg" width="{}" height="{}" '
        'style="max-width: 100%; height: auto" viewBox="0 0 {} {}" role="img" aria-label="Step graph">{}{}{}</svg>',
        width,
        height,
        width,
        height,
        mark_safe(ARROW),  # a constant
        _edges(drawn),
        format_html_join("", "{}", ((_node(node),) for node in drawn.nodes)),
    )


def _corner(node: Node) -> tuple[int, int]:
    return MARGIN + node.layer * COLUMN, MARGIN + node.position * ROW


def _edges(drawn: Layout) -> SafeString:
    where = {node.step_id: _corner(node) for node in drawn.nodes}
    lines = []
    for needed, step_id in drawn.edges:
        (x0, y0), (x1, y1) = where[needed], where[step_id]
        lines.append((needed, step_id, x0 + NODE_WIDTH, y0 + NODE_HEIGHT // 2, x1, y1 + NODE_HEIGHT // 2))
    return format_html_join(
        "",
        '<line class="automate-graph-edge" data-from="{}" data-to="{}" x1="{}" y1="{}" x2="{}" y2="{}" '
        'stroke="#555" marker-end="url(#automate-arrow)"/>',
        lines,
    )


def _node(node: Node) -> SafeString:
    x, y = _corner(node)
    return format_html(
        '<g class="automate-graph-node" data-step="{}" data-kind="{}" data-layer="{}"><title>{} ({})</title>'
        '<rect x="{}" y="{}" width="{}" height="{}" rx="6" fill="{}" stroke="#607d8b"/>'
        '<text x="{}" y="{}" ' + FONT + ' font-weight="bold">{}</text>'
        '<text x="{}" y="{}" ' + FONT + ' fill="#555">{}</text></g>',
        node.step_id,
        node.kind,
        node.layer,
        node.step_id,
        node.label,
        x,
        y,
        NODE_WIDTH,
        NODE_HEIGHT,
        KIND_FILLS.get(node.kind, KIND_FILLS["step"]),
        x + 8,
        y + 16,
        node.step_id[:24],
        x + 8,
        y + 32,
        (f"{node.kind}: {node.label}" if node.kind != "step" and node.label != node.kind else node.label)[:28],
    )
