"""A run's waterfall (:mod:`django_automate.tracing.waterfall`) as inline SVG, with its legend.

Each attempt is a ``<g class="automate-wf-row">`` carrying its step, attempt, kind, status
and millisecond offsets as ``data-`` attributes and a ``<title>`` (the browser shows it on
hover, no script needed). Waits (sleep, wait_for, approval) are pale, dashed bars with their
state written next to them; attempts still going on end in an open (dotted) edge.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

from django_automate.admin.drawing.svg import FONT, colour, legend, nice_step
from django_automate.tracing.waterfall import Row, Waterfall

LABEL_WIDTH = 190
CHART_WIDTH = 700
NOTE_WIDTH = 230
ROW_HEIGHT = 22
AXIS_HEIGHT = 24
WAIT_KINDS = ("sleep", "wait_for", "approval")


def waterfall_svg(waterfall: Waterfall) -> SafeString:
    """The SVG of ``waterfall`` followed by its legend; a note when the run has no attempts yet."""
    if not waterfall.rows:
        return format_html('<p class="automate-waterfall-empty">{}</p>', "No step has started yet.")
    height = AXIS_HEIGHT + ROW_HEIGHT * len(waterfall.rows) + 6
    width = LABEL_WIDTH + CHART_WIDTH + NOTE_WIDTH
    rows = mark_safe(
        "".join(_row(waterfall, n, row) for n, row in enumerate(waterfall.rows))
    )  # each row escaped by format_html
    svg = format_html(
        '<svg class="automate-waterfall" data-run="{}" xmlns="http://www.w3.org/2000/svg" width="{}" '
        'height="{}" style="max-width: 100%; height: auto" viewBox="0 0 {} {}" role="img" aria-label="{}">{}{}</svg>',
        waterfall.run_id,
        width,
        height,
        width,
        height,
        f"Waterfall of run {waterfall.run_id}",
        _axis(waterfall.span_ms, height),
        rows,
    )
    statuses = sorted({row.status for row in waterfall.rows})
    wait_note = format_html(
        '<span class="automate-legend-item"><svg width="24" height="12" aria-hidden="true"><rect width="24" '
        'height="12" fill="#6a1b9a" fill-opacity="0.3" stroke="#6a1b9a" stroke-dasharray="3 2"/></svg> {}</span>',
        "wait (sleep, wait_for, approval), coloured by its status; times in ms from the run's creation",
    )
    return format_html('<div class="automate-waterfall-box">{}{}</div>', svg, legend(statuses, extra=wait_note))


def _x(waterfall: Waterfall, ms: int) -> float:
    return round(LABEL_WIDTH + CHART_WIDTH * min(max(ms, 0), waterfall.span_ms) / waterfall.span_ms, 1)


def _axis(span_ms: int, height: int) -> SafeString:
    step = nice_step(span_ms)
    ticks = []
    for ms in range(0, span_ms + 1, step):
        x = round(LABEL_WIDTH + CHART_WIDTH * ms / span_ms, 1)
        ticks.append((x, x, height, x, ms))
    return format_html_join(
        "",
        '<line x1="{}" y1="16" x2="{}" y2="{}" stroke="#ddd"/>'
        '<text x="{}" y="12" text-anchor="middle" ' + FONT + ' fill="#666">{} ms</text>',
        ticks,
    )


def _row(waterfall: Waterfall, n: int, row: Row) -> str:
    y = AXIS_HEIGHT + n * ROW_HEIGHT
    x0, x1 = _x(waterfall, row.start_ms), _x(waterfall, row.end_ms)
    fill = colour(row.status)
    wait = row.kind in WAIT_KINDS
    bar_style = f'fill-opacity="0.3" stroke="{fill}" stroke-dasharray="3 2"' if wait else 'fill-opacity="0.9"'
    parts = (f"{row.duration_ms} ms", row.kind if row.kind != "step" else "", row.state)
    note = " · ".join(part for part in parts if part)
    if row.error:
        note = f"{note} · {row.error}"
    title = f"{row.label}: {row.status}, +{row.start_ms} ms → +{row.end_ms} ms ({note})"
    edge = (
        format_html(
            '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="{}" stroke-width="2" stroke-dasharray="2 2"/>',
            x1,
            y + 3,
            x1,
            y + ROW_HEIGHT - 3,
            fill,
        )
        if row.open
        else ""
    )
    return str(
        format_html(
            '<g class="automate-wf-row" data-step="{}" data-attempt="{}" data-kind="{}" data-status="{}" '
            'data-start-ms="{}" data-end-ms="{}"><title>{}</title>'
            '<text x="{}" y="{}" ' + FONT + ">{}</text>"
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}" {}/>{}'
            '<text x="{}" y="{}" ' + FONT + ' fill="#333">+{} ms · {}</text></g>',
            row.step_id,
            row.attempt,
            row.kind,
            row.status,
            row.start_ms,
            row.end_ms,
            title,
            16 if "[" in row.step_id else 4,  # a for_each item, under its step
            y + 15,
            row.label,
            x0,
            y + 3,
            round(max(x1 - x0, 2.0), 1),
            ROW_HEIGHT - 6,
            fill,
            mark_safe(bar_style),  # built above from a fixed colour table
            edge,
            round(min(max(x1, x0 + 2) + 4, LABEL_WIDTH + CHART_WIDTH + 4), 1),
            y + 15,
            row.start_ms,
            note[:60],
        )
    )
