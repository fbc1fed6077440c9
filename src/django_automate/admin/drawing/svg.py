"""Shared pieces of the admin's SVG drawings: status colours, the legend, axis ticks."""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

#: Fill colour per step/run status.
STATUS_COLOURS = {
    "succeeded": "#2e7d32",
    "failed": "#c62828",
    "retrying": "#ef6c00",
    "running": "#1565c0",
    "waiting": "#6a1b9a",
    "pending": "#757575",
    "skipped": "#9e9e9e",
    "cancelled": "#5d4037",
}
FALLBACK = "#455a64"
FONT = 'font-family="sans-serif" font-size="11"'


def colour(status: str) -> str:
    return STATUS_COLOURS.get(status, FALLBACK)


def legend(statuses: list[str], *, extra: SafeString | str = "") -> SafeString:
    """An HTML legend: one swatch per status, then ``extra`` (e.g. what a dashed bar means)."""
    items = format_html_join(
        "",
        '<span class="automate-legend-item"><svg width="12" height="12" aria-hidden="true">'
        '<rect width="12" height="12" fill="{}"/></svg> {}</span> ',
        ((colour(status), status) for status in statuses),
    )
    return format_html('<p class="automate-legend">{}{}</p>', items, extra)


def nice_step(span: float, wanted: int = 6) -> int:
    """A tick step of 1, 2 or 5 times a power of ten giving about ``wanted`` ticks over ``span`` (at least 1)."""
    raw = max(span / wanted, 1.0)
    power = 1
    while power * 10 <= raw:
        power *= 10
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return factor * power
    return 10 * power
