"""Small server-rendered SVG charts: no script, no inline style (colours come from app.css by class).

Every chart goes with a text alternative in the page: a table of the same numbers.
"""

import math

from flask_babel import gettext as _
from markupsafe import Markup, escape


def _num(value):
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _segments(points):
    """Split [(x, y) or None] into runs of consecutive points, so that a gap stays a gap."""
    runs, run = [], []
    for point in points:
        if point is None:
            if run:
                runs.append(run)
            run = []
        else:
            run.append(point)
    if run:
        runs.append(run)
    return runs


def _polyline(points, css):
    coords = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    return f'<polyline class="{css}" points="{coords}"/>'


TREND = {"width": 640, "left": 48, "right": 12, "top": 40, "pct_height": 150, "bar_top": 230, "bar_height": 44}


def trend_chart(weeks, chart_id, labels):
    """Draw % positive and % negative per week with 95 % intervals, and answers per week as bars.

    weeks: [{"label": "W05", "answers": n, "positive": (pct, (low, high)) | (None, None),
    "negative": (...)}]; labels: {"title", "desc", "positive", "negative", "answers"}.
    """
    g = TREND
    n = max(1, len(weeks))
    plot_width = g["width"] - g["left"] - g["right"]
    step = plot_width / n
    bottom = g["top"] + g["pct_height"]
    height = g["bar_top"] + g["bar_height"] + 28

    def x(i):
        return g["left"] + step * (i + 0.5)

    def y(pct):
        return bottom - pct / 100 * g["pct_height"]

    parts = [
        f'<svg class="chart trend" id="{chart_id}" viewBox="0 0 {g["width"]} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" focusable="false">',
        f'<title id="{chart_id}-title">{escape(labels["title"])}</title>',
        f'<desc id="{chart_id}-desc">{escape(labels["desc"])}</desc>',
    ]
    # Legend: line style and marker shape tell the series apart, not only their colour.
    parts += [
        f'<line class="series-positive" x1="{g["left"]}" y1="14" x2="{g["left"] + 24}" y2="14"/>',
        f'<circle class="marker-positive" cx="{g["left"] + 12}" cy="14" r="4"/>',
        f'<text class="legend" x="{g["left"] + 30}" y="18">{escape(labels["positive"])}</text>',
        f'<line class="series-negative" x1="{g["left"] + 250}" y1="14" x2="{g["left"] + 274}" y2="14"/>',
        f'<rect class="marker-negative" x="{g["left"] + 258}" y="10" width="8" height="8"/>',
        f'<text class="legend" x="{g["left"] + 280}" y="18">{escape(labels["negative"])}</text>',
    ]
    for pct in (0, 25, 50, 75, 100):
        parts.append(f'<line class="grid" x1="{g["left"]}" y1="{_num(y(pct))}" x2="{g["width"] - g["right"]}" '
                     f'y2="{_num(y(pct))}"/>')
        parts.append(f'<text class="axis" x="{g["left"] - 6}" y="{_num(y(pct) + 4)}" text-anchor="end">{pct} %</text>')
    for polarity, css in (("positive", "positive"), ("negative", "negative")):
        points = []
        for i, week in enumerate(weeks):
            pct, ci = week[polarity]
            if pct is None:
                points.append(None)
                continue
            points.append((x(i), y(pct)))
            low, high = y(ci[0]), y(ci[1])
            parts.append(f'<line class="ci-{css}" x1="{_num(x(i))}" y1="{_num(low)}" x2="{_num(x(i))}" y2="{_num(high)}"/>')
            for end in (low, high):
                parts.append(f'<line class="ci-{css}" x1="{_num(x(i) - 3)}" y1="{_num(end)}" x2="{_num(x(i) + 3)}" '
                             f'y2="{_num(end)}"/>')
        for run in _segments(points):
            if len(run) > 1:
                parts.append(_polyline(run, f"series-{css}"))
        for point in filter(None, points):
            if css == "positive":
                parts.append(f'<circle class="marker-positive" cx="{_num(point[0])}" cy="{_num(point[1])}" r="4"/>')
            else:
                parts.append(f'<rect class="marker-negative" x="{_num(point[0] - 4)}" y="{_num(point[1] - 4)}" '
                             f'width="8" height="8"/>')
    # Answers per week, on a scale of their own below the percentages.
    top = max((week["answers"] for week in weeks), default=0)
    parts.append(f'<text class="axis" x="{g["left"]}" y="{g["bar_top"] - 10}">{escape(labels["answers"])}</text>')
    base = g["bar_top"] + g["bar_height"]
    parts.append(f'<line class="axis-line" x1="{g["left"]}" y1="{base}" x2="{g["width"] - g["right"]}" y2="{base}"/>')
    every = math.ceil(n / 13)
    for i, week in enumerate(weeks):
        bar = week["answers"] / top * g["bar_height"] if top else 0
        width = min(step * 0.6, 40)
        parts.append(f'<rect class="bar" x="{_num(x(i) - width / 2)}" y="{_num(base - bar)}" width="{_num(width)}" '
                     f'height="{_num(bar)}"/>')
        if n <= 13:
            parts.append(f'<text class="bar-label" x="{_num(x(i))}" y="{_num(base - bar - 3)}" '
                         f'text-anchor="middle">{week["answers"]}</text>')
        if i % every == 0:
            parts.append(f'<text class="axis" x="{_num(x(i))}" y="{base + 18}" '
                         f'text-anchor="middle">{escape(week["label"])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_bar(pct, ci, polarity):
    """Draw a percentage's 95 % interval on a 0 to 100 track, the figure as a tick; the text beside it says the same."""
    if pct is None:
        return Markup("")
    return Markup(
        f'<svg class="interval interval-{polarity}" viewBox="0 0 100 14" aria-hidden="true" focusable="false">'
        f'<rect class="track" x="0" y="5" width="100" height="4"/>'
        f'<rect class="range" x="{_num(ci[0])}" y="2" width="{_num(max(ci[1] - ci[0], 0.5))}" height="10"/>'
        f'<line class="point" x1="{_num(pct)}" y1="0" x2="{_num(pct)}" y2="14"/>'
        f"</svg>"
    )


def sparkline(values, label):
    """Draw a tiny line of weekly percentages (None where a week had fewer than 5 answers)."""
    width, height, pad = 120, 36, 3
    n = max(1, len(values))
    step = (width - 2 * pad) / max(1, n - 1)

    def point(i, pct):
        return pad + (step * i if n > 1 else (width - 2 * pad) / 2), height - pad - pct / 100 * (height - 2 * pad)

    points = [None if pct is None else point(i, pct) for i, pct in enumerate(values)]
    parts = [
        f'<svg class="sparkline" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}" '
        f'focusable="false">',
        f'<line class="grid" x1="{pad}" y1="{pad}" x2="{width - pad}" y2="{pad}"/>',
        f'<line class="grid" x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}"/>',
    ]
    parts += [_polyline(run, "series-positive") for run in _segments(points) if len(run) > 1]
    parts += [f'<circle class="marker-positive" cx="{_num(p[0])}" cy="{_num(p[1])}" r="2.5"/>'
              for p in points if p is not None]
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_label(values):
    """Say a sparkline's numbers in words: "% positive per week: 80 %, 75 %, fewer than 5 answers"."""
    words = [_("fewer than 5 answers") if pct is None else f"{round(pct)} %" for pct in values]
    return _("%% positive per week: %(values)s", values=", ".join(words))
