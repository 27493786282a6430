"""Inline SVG charts with dates on x and a share (0..1) on y, drawn as plain strings.

Each point or bar carries `data-series`, `data-date` and `data-value`, so a reader (or a browser
test) can check what is drawn against the numbers it came from; each also has a `<title>`, which
browsers show as a tooltip.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

WIDTH, HEIGHT = 600, 230
LEFT, RIGHT, TOP, BOTTOM = 46, 12, 12, 30
PLOT_W, PLOT_H = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
MAX_X_LABELS = 10


@dataclass(frozen=True)
class Series:
    name: str  # machine name, e.g. top_ctr (data-series)
    label: str  # what the legend says
    color: str
    values: tuple[float | None, ...]  # one per day; None = nothing to draw that day


def percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None else f"{value * 100:.{digits}f}%"


def _x(i: int, n: int) -> float:
    return LEFT + (i + 0.5) * PLOT_W / n


def _y(value: float) -> float:
    return TOP + PLOT_H * (1 - max(0.0, min(1.0, value)))


def _frame(chart_id: str, title: str, days: list[dt.date], body: list[str]) -> str:
    n = len(days)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{chart_id}" data-days="{n}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for level in GRID:
        y = _y(level)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{percent(level, 0)}</text>"
        )
    step = max(1, -(-n // MAX_X_LABELS))  # ceil: at most MAX_X_LABELS date labels
    for i, day in enumerate(days):
        if (n - 1 - i) % step == 0:  # always label the latest day
            parts.append(
                f'<text class="tick" x="{_x(i, n):.1f}" y="{HEIGHT - 10}" text-anchor="middle">'
                f"{day:%m-%d}</text>"
            )
    parts += body
    parts.append("</svg>")
    return "".join(parts)


def _mark(series: Series, day: dt.date, value: float) -> str:
    return (
        f'data-series="{escape(series.name)}" data-date="{day.isoformat()}" data-value="{value!r}"'
        f"><title>{escape(series.label)}, {day.isoformat()}: {percent(value)}</title>"
    )


def line_chart(chart_id: str, title: str, days: list[dt.date], series: list[Series]) -> str:
    """One line per series, one point per day that has a value."""
    n, body = len(days), []
    for j, s in enumerate(series):
        # Later series are drawn thinner on top, so equal values (e.g. both at 100%) stay visible.
        width, radius = max(4 - 2 * j, 1.5), max(5.5 - 2 * j, 2.5)
        path, pen_down = [], False
        for i, value in enumerate(s.values):
            if value is None:
                pen_down = False
                continue
            path.append(f"{'L' if pen_down else 'M'}{_x(i, n):.1f},{_y(value):.1f}")
            pen_down = True
        if path:
            body.append(
                f'<path class="line" d="{" ".join(path)}" stroke="{s.color}" fill="none" '
                f'stroke-width="{width}"/>'
            )
        for i, value in enumerate(s.values):
            if value is not None:
                body.append(
                    f'<circle class="point" cx="{_x(i, n):.1f}" cy="{_y(value):.1f}" r="{radius}" '
                    f'fill="{s.color}" {_mark(s, days[i], value)}</circle>'
                )
    return _frame(chart_id, title, days, body)


def bar_chart(chart_id: str, title: str, days: list[dt.date], series: list[Series]) -> str:
    """Grouped bars: one bar per series and day that has a value; 'n/a' where none has one."""
    n, k, body = len(days), len(series), []
    band = PLOT_W / max(n, 1)
    bar_w = band * 0.7 / max(k, 1)
    for i, day in enumerate(days):
        left = _x(i, n) - band * 0.35
        values = [s.values[i] for s in series]
        if all(v is None for v in values):
            body.append(
                f'<text class="no-data" data-date="{day.isoformat()}" x="{_x(i, n):.1f}" '
                f'y="{_y(0) - 6:.1f}" text-anchor="middle">n/a</text>'
            )
            continue
        for j, (s, value) in enumerate(zip(series, values, strict=True)):
            if value is None:
                continue
            top = _y(value)
            body.append(
                f'<rect class="bar" x="{left + j * bar_w:.1f}" y="{top:.1f}" '
                f'width="{bar_w * 0.92:.1f}" height="{_y(0) - top:.1f}" fill="{s.color}" '
                f"{_mark(s, day, value)}</rect>"
            )
    return _frame(chart_id, title, days, body)


# What the page's stylesheet gives a chart, for a chart drawn outside the page.
STANDALONE_STYLE = (
    ".grid{stroke:#e2e8f0}.tick,.no-data,.legend{font:11px sans-serif;fill:#64748b}"
    ".legend{fill:#1f2937;font-size:12px}"
)
LEGEND_H = 22


def standalone(chart: str, title: str, series: list[Series]) -> str:
    """A chart as an SVG document of its own (a file): its title and legend drawn inside."""
    chips, x = [], LEFT
    for s in series:
        chips.append(
            f'<rect x="{x}" y="{LEGEND_H + 4}" width="10" height="10" fill="{s.color}"/>'
            f'<text class="legend" x="{x + 14}" y="{LEGEND_H + 13}">{escape(s.label)}</text>'
        )
        x += 24 + 7 * len(s.label)
    height = HEIGHT + 2 * LEGEND_H
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(WIDTH, x)}" height="{height}" '
        f'viewBox="0 0 {max(WIDTH, x)} {height}"><style>{STANDALONE_STYLE}</style>'
        f'<rect width="100%" height="100%" fill="#fff"/>'
        f'<text class="legend" x="{LEFT}" y="16" font-weight="600">{escape(title)}</text>'
        f"{''.join(chips)}"
        f'<g transform="translate(0,{2 * LEGEND_H})">{chart}</g></svg>\n'
    )
