"""Inline SVG charts drawn in Python: no JavaScript, no CDN, nothing fetched when the report is viewed.

Every data mark carries `class="mark"` and a `<title>` (the browser's tooltip), so a reader can hover a
point to see which campaign it is, and a test can count what was drawn. Text labels never overlap: a name
longer than its room is shortened with an ellipsis (the full name in its `<title>`), category labels take
two staggered rows when the bands are narrow, and x tick labels are thinned until they fit.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

PALETTE = ("#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951", "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e")
WIDTH, HEIGHT = 720, 400
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 70, 150, 20, 50

FONT_SIZE = 11
# Room one character takes at FONT_SIZE: 0.65 em, above the average glyph of common sans-serif faces
# (DejaVu Sans digits are 0.64 em), so a label measured with it is never wider than its room.
CHAR_WIDTH = 0.65 * FONT_SIZE
LABEL_GAP = 6.0  # px between two labels on the same row
LEGEND_X = WIDTH - MARGIN_RIGHT + 14
LEGEND_CHARS = int((WIDTH - LEGEND_X - 14 - 4) / CHAR_WIDTH)  # after the colour swatch, inside the chart
Y_TICK_CHARS = int((MARGIN_LEFT - 6 - 22) / CHAR_WIDTH)  # between the y axis title and the plot

Formatter = Callable[[float], str]


def fmt_number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def fmt_percent(value: float) -> str:
    return f"{100 * value:.0f}%" if abs(value) >= 0.1 or value == 0 else f"{100 * value:.1f}%"


def fmt_money(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"


def fmt_ratio(value: float) -> str:
    return f"{value:.2g}x"


def fmt_compact(value: float) -> str:
    """12.5k, 1.2M: a tick label that must stay short."""
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}"


def fmt_date(value: float) -> str:
    return date.fromordinal(round(value)).isoformat()


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    label: str
    series: str = ""
    y_low: float | None = None
    y_high: float | None = None


@dataclass(frozen=True)
class Axis:
    label: str
    fmt: Formatter = fmt_number
    zero: bool = True  # include 0 in the domain


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    out_lo: float
    out_hi: float

    def __call__(self, value: float) -> float:
        return self.out_lo + (value - self.lo) / (self.hi - self.lo) * (self.out_hi - self.out_lo)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi] (steps of 1, 2 or 5 times a power of ten)."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(lo / step) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < hi:
        ticks.append(round(value, 12))
    return ticks


def _domain(values: Sequence[float], include_zero: bool) -> list[float]:
    lo, hi = min(values), max(values)
    if include_zero:
        lo, hi = min(lo, 0.0), max(hi, 0.0)
    return nice_ticks(lo, hi)


def shorten(text: str, max_chars: int) -> str:
    """`text` cut to `max_chars` characters, the last one an ellipsis when something was cut."""
    return text if len(text) <= max_chars else text[: max(max_chars - 1, 0)] + "\u2026"


def label_width(text: str) -> float:
    return len(text) * CHAR_WIDTH


def text_label(x: float, y: float, text: str, max_chars: int, anchor: str = "middle", css: str = "label") -> str:
    """A `<text>` shortened to `max_chars`, with the full text in its `<title>` (the hover tooltip)."""
    return (
        f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"><title>{escape(text)}</title>'
        f"{escape(shorten(text, max_chars))}</text>"
    )


def _y_tick_labels(right: float, ys: _Scale, ticks: Sequence[float], axis: Axis) -> list[str]:
    """Right-aligned at `right`; a value too long for the margin is written compactly (1.2M)."""
    out = []
    for t in ticks:
        text = axis.fmt(t)
        text = text if len(text) <= Y_TICK_CHARS else fmt_compact(t)
        out.append(f'<text x="{right:.1f}" y="{ys(t) + 4:.1f}" text-anchor="end">{escape(text)}</text>')
    return out


def spaced(centres: Sequence[float], texts: Sequence[str]) -> list[int]:
    """Indexes of the centred labels to keep, left to right, so that no two kept labels overlap."""
    kept: list[int] = []
    right_edge = -math.inf
    for i in sorted(range(len(centres)), key=lambda k: centres[k]):
        half = label_width(texts[i]) / 2
        if centres[i] - half >= right_edge + LABEL_GAP:
            kept.append(i)
            right_edge = centres[i] + half
    return kept


def _colors(series: Sequence[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(series))}


def _frame(chart_id: str, title: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">'
        f"<title>{escape(title)}</title>" + "".join(body) + "</svg>"
    )


def _axes(xs: _Scale, ys: _Scale, x_ticks: list[float], y_ticks: list[float], x: Axis, y: Axis) -> list[str]:
    out = ['<g class="axes" stroke="#ccc">']
    for t in y_ticks:
        out.append(f'<line x1="{xs.out_lo:.1f}" x2="{xs.out_hi:.1f}" y1="{ys(t):.1f}" y2="{ys(t):.1f}"/>')
    out.append("</g><g class='tick-labels' fill='#555'>")
    out += _y_tick_labels(xs.out_lo - 6, ys, y_ticks, y)
    x_texts = [x.fmt(t) for t in x_ticks]
    for i in spaced([xs(t) for t in x_ticks], x_texts):
        out.append(
            f'<text x="{xs(x_ticks[i]):.1f}" y="{ys.out_lo + 16:.1f}" text-anchor="middle">{escape(x_texts[i])}</text>'
        )
    out.append("</g>")
    mid_x = (xs.out_lo + xs.out_hi) / 2
    mid_y = (ys.out_lo + ys.out_hi) / 2
    out.append(
        f'<text x="{mid_x:.1f}" y="{HEIGHT - 8}" text-anchor="middle" font-weight="bold">{escape(x.label)}</text>'
    )
    out.append(
        f'<text transform="translate(14 {mid_y:.1f}) rotate(-90)" text-anchor="middle" '
        f'font-weight="bold">{escape(y.label)}</text>'
    )
    return out


def _legend(colors: dict[str, str]) -> list[str]:
    out = ['<g class="legend">']
    for i, (name, color) in enumerate(colors.items()):
        if not name:
            continue
        y = MARGIN_TOP + 14 * i + 6
        out.append(f'<rect x="{LEGEND_X}" y="{y - 8}" width="10" height="10" fill="{color}"/>')
        out.append(text_label(LEGEND_X + 14, y + 1, name, LEGEND_CHARS, anchor="start", css="legend-label"))
    out.append("</g>")
    return out


def _scales(x_ticks: list[float], y_ticks: list[float], x_values: Sequence[float]) -> tuple[_Scale, _Scale]:
    """Linear scales over the ticks, widened on x to every value (explicit ticks may be thinned)."""
    xs = _Scale(min(x_ticks[0], *x_values), max(x_ticks[-1], *x_values), MARGIN_LEFT, WIDTH - MARGIN_RIGHT)
    ys = _Scale(y_ticks[0], y_ticks[-1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    return xs, ys


def scatter_chart(
    chart_id: str,
    title: str,
    points: Sequence[Point],
    x: Axis,
    y: Axis,
    *,
    diagonal: bool = False,
    connect: bool = False,
    x_ticks: Sequence[float] | None = None,
) -> str:
    """Points (with optional vertical interval bars); `connect` joins each series in x order.

    `x_ticks` replaces the round ticks (e.g. one per week on a date axis).
    """
    if not points:
        raise ValueError(f"chart {chart_id} has no points to draw")
    xt = sorted(x_ticks) if x_ticks else _domain([p.x for p in points], x.zero)
    if len(xt) == 1:
        xt = [xt[0] - 1, xt[0], xt[0] + 1]
    y_values = [v for p in points for v in (p.y, p.y_low, p.y_high) if v is not None]
    y_ticks = _domain(y_values + ([p.x for p in points] if diagonal else []), y.zero)
    if diagonal:
        xt = y_ticks = nice_ticks(min(xt[0], y_ticks[0]), max(xt[-1], y_ticks[-1]))
    xs, ys = _scales(xt, y_ticks, [p.x for p in points])
    colors = _colors([p.series for p in points])
    body = _axes(xs, ys, xt, y_ticks, x, y)
    if diagonal:
        lo, hi = xt[0], xt[-1]
        body.append(
            f'<line class="reference" x1="{xs(lo):.1f}" y1="{ys(lo):.1f}" x2="{xs(hi):.1f}" y2="{ys(hi):.1f}" '
            'stroke="#999" stroke-dasharray="4 4"><title>platform = real</title></line>'
        )
    if connect:
        body.extend(_lines(points, xs, ys, colors))
    body.append('<g class="marks">')
    for p in points:
        color = colors[p.series]
        tip = escape(f"{p.label}: {x.label} {x.fmt(p.x)}, {y.label} {y.fmt(p.y)}" + _interval_text(p, y.fmt))
        if p.y_low is not None and p.y_high is not None:
            body.append(
                f'<line class="interval" x1="{xs(p.x):.1f}" x2="{xs(p.x):.1f}" y1="{ys(p.y_low):.1f}" '
                f'y2="{ys(p.y_high):.1f}" stroke="{color}" stroke-opacity="0.5" stroke-width="2"/>'
            )
        body.append(
            f'<circle class="mark" data-series="{escape(p.series)}" cx="{xs(p.x):.1f}" cy="{ys(p.y):.1f}" r="4" '
            f'fill="{color}" fill-opacity="0.85"><title>{tip}</title></circle>'
        )
    body.append("</g>")
    body.extend(_legend(colors))
    return _frame(chart_id, title, body)


def _interval_text(p: Point, fmt: Formatter) -> str:
    if p.y_low is None or p.y_high is None:
        return ""
    return f" (95% interval {fmt(p.y_low)} to {fmt(p.y_high)})"


def _lines(points: Sequence[Point], xs: _Scale, ys: _Scale, colors: dict[str, str]) -> list[str]:
    out = ['<g class="lines" fill="none" stroke-width="2">']
    for series, color in colors.items():
        coords = sorted((p.x, p.y) for p in points if p.series == series)
        path = " ".join(f"{xs(px):.1f},{ys(py):.1f}" for px, py in coords)
        out.append(f'<polyline points="{path}" stroke="{color}"/>')
    out.append("</g>")
    return out


def _category_labels(categories: Sequence[str], band: float, min_chars: int = 12) -> list[str]:
    """One label under each band; on two staggered rows (twice the room each) when a row would leave fewer
    than `min_chars` characters per label."""
    rows = 1 if (band - LABEL_GAP) / CHAR_WIDTH >= min_chars or len(categories) == 1 else 2
    max_chars = int((rows * band - LABEL_GAP) / CHAR_WIDTH)
    return [
        text_label(
            MARGIN_LEFT + band * (i + 0.5),
            HEIGHT - MARGIN_BOTTOM + 16 + 14 * (i % rows),
            name,
            max_chars,
            css="category",
        )
        for i, name in enumerate(categories)
    ]


def grouped_bar_chart(
    chart_id: str,
    title: str,
    categories: Sequence[str],
    series: Mapping[str, Sequence[float | None]],
    y: Axis,
) -> str:
    """One group of bars per category, one bar per series; None draws nothing."""
    values = [v for vs in series.values() for v in vs if v is not None]
    if not categories or not values:
        raise ValueError(f"chart {chart_id} has no bars to draw")
    y_ticks = _domain(values, True)
    ys = _Scale(y_ticks[0], y_ticks[-1], HEIGHT - MARGIN_BOTTOM, MARGIN_TOP)
    band = (WIDTH - MARGIN_LEFT - MARGIN_RIGHT) / len(categories)
    bar = band * 0.8 / max(1, len(series))
    colors = _colors(list(series))
    body = ['<g class="axes" stroke="#ccc">']
    body += [
        f'<line x1="{MARGIN_LEFT}" x2="{WIDTH - MARGIN_RIGHT}" y1="{ys(t):.1f}" y2="{ys(t):.1f}"/>' for t in y_ticks
    ]
    body.append("</g><g class='tick-labels' fill='#555'>")
    body += _y_tick_labels(MARGIN_LEFT - 6, ys, y_ticks, y)
    body += _category_labels(categories, band)
    body.append("</g>")
    body.append(
        f'<text transform="translate(14 {(HEIGHT - MARGIN_BOTTOM + MARGIN_TOP) / 2:.1f}) rotate(-90)" '
        f'text-anchor="middle" font-weight="bold">{escape(y.label)}</text><g class="marks">'
    )
    for s, (name, vs) in enumerate(series.items()):
        for i, value in enumerate(vs):
            if value is None:
                continue
            x0 = MARGIN_LEFT + band * i + band * 0.1 + bar * s
            top, base = ys(max(value, 0.0)), ys(min(value, 0.0))
            tip = escape(f"{categories[i]}, {name}: {y.fmt(value)}")
            body.append(
                f'<rect class="mark" data-series="{escape(name)}" x="{x0:.1f}" y="{top:.1f}" width="{bar:.1f}" '
                f'height="{max(base - top, 0.5):.1f}" fill="{colors[name]}"><title>{tip}</title></rect>'
            )
    body.append("</g>")
    body.extend(_legend(colors))
    return _frame(chart_id, title, body)
