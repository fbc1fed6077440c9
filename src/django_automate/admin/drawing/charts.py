"""Bar charts drawn on the server as inline SVG: readable without JavaScript, titled for screen readers.

Every bar carries a ``<title>`` (its bucket and value, shown as a tooltip); the figures are also
printed in tables next to the charts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 180
LEFT, BOTTOM, TOP = 44, 22, 8


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]
    color: str


def bar_chart(
    chart_id: str, title: str, labels: Sequence[dt.datetime], series: Sequence[Series], *, label_format: str
) -> SafeString:
    """Bars per time bucket, the series stacked bottom to top; the y axis from 0 to the tallest stack."""
    count = max(len(labels), 1)
    totals = [sum(s.values[n] for s in series) for n in range(len(labels))]
    top = max([*totals, 1])
    plot_w, plot_h = WIDTH - LEFT - 4, HEIGHT - BOTTOM - TOP
    slot = plot_w / count
    bar_w = max(slot * 0.8, 1.0)
    rects = []
    for n, moment in enumerate(labels):
        base = 0
        for s in series:
            value = s.values[n]
            if value:
                height = value / top * plot_h
                y = TOP + plot_h - (base + value) / top * plot_h
                text = f"{moment:{label_format}} UTC: {value} {s.name}"
                rects.append((f"{LEFT + n * slot:.1f}", f"{y:.1f}", f"{bar_w:.1f}", f"{height:.1f}", s.color, text))
            base += value
    bars = format_html_join("", '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>', rects)
    ticks = _x_ticks(labels, slot, label_format)
    legend = format_html_join(
        "",
        '<tspan fill="{}">■</tspan> {} ',
        [(s.color, f"{s.name} ({sum(s.values)})") for s in series],
    )
    return format_html(
        '<svg id="{}" class="automate-chart" role="img" aria-labelledby="{}-title {}-desc" width="100%" '
        'viewBox="0 0 {} {}" xmlns="http://www.w3.org/2000/svg" font-family="sans-serif" font-size="11">'
        '<title id="{}-title">{}</title><desc id="{}-desc">{}</desc>'
        '<line x1="{}" y1="{}" x2="{}" y2="{}" stroke="#999"/>'
        '<text x="{}" y="{}" text-anchor="end" fill="#666">{}</text>'
        '<text x="{}" y="{}" text-anchor="end" fill="#666">0</text>'
        "{}{}"
        '<text x="{}" y="{}" fill="#333">{}</text></svg>',
        chart_id,
        chart_id,
        chart_id,
        WIDTH,
        HEIGHT + 16,
        chart_id,
        title,
        chart_id,
        _description(labels, series, totals, label_format),
        LEFT,
        TOP + plot_h,
        WIDTH - 4,
        TOP + plot_h,
        LEFT - 4,
        TOP + 10,
        top,
        LEFT - 4,
        TOP + plot_h,
        bars,
        ticks,
        LEFT,
        HEIGHT + 12,
        legend,
    )


def _x_ticks(labels: Sequence[dt.datetime], slot: float, label_format: str) -> SafeString:
    if not labels:
        return mark_safe("")
    last = len(labels) - 1
    y = HEIGHT - BOTTOM + 14
    ticks = [(LEFT, "start", 0), (LEFT + (last // 2 + 0.5) * slot, "middle", last // 2), (WIDTH - 4, "end", last)]
    return format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="{}" fill="#666">{}</text>',
        [(f"{x:.1f}", y, anchor, f"{labels[n]:{label_format}}") for x, anchor, n in ticks[: 1 if not last else 3]],
    )


def _description(
    labels: Sequence[dt.datetime], series: Sequence[Series], totals: Sequence[int], label_format: str
) -> str:
    if not labels:
        return "No buckets."
    peak = max(range(len(totals)), key=lambda n: totals[n])
    parts = ", ".join(f"{s.name} {sum(s.values)}" for s in series)
    return (
        f"{len(labels)} buckets from {labels[0]:{label_format}} UTC; totals: {parts}; "
        f"busiest bucket {labels[peak]:{label_format}} UTC with {totals[peak]}."
    )
