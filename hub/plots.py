"""Bar charts as SVG, written directly: the card's and the web pages' statistics plots.

A publish draws two or three small charts (rows per split, each class-label field's share per
split). Plotting libraries cost more to import than these charts cost to draw, and hold the
GIL while the shards are written and stored; an SVG is a few hundred lines of text, scales on
any screen, and every browser (and the Hugging Face card renderer) shows it as an image.

Every bar is a `<rect class="bar">` carrying its series, category and value as data
attributes and a `<title>` tooltip; text from the dataset (class names, split names, titles)
is XML-escaped.
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape, quoteattr

__all__ = ["PALETTE", "bar_chart", "nice_ticks"]

PALETTE = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860", "#da8bc3", "#8c8c8c", "#ccb974", "#64b5cd"]
_FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"'
_CHAR = 6.2  # average width of an 11 px character, for laying out labels


def nice_ticks(top: float, count: int = 5, *, whole: bool = False) -> list[float]:
    """Round axis ticks from 0 to at least `top` (steps of 1, 2 or 5 times a power of ten;
    `whole`: steps of at least 1, for counts, so one row is not drawn on a 0.2 grid)."""
    if top <= 0:
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    if whole:
        step = max(step, 1)
    return [i * step for i in range(int(math.ceil(top / step - 1e-9)) + 1)]


def _label(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.1f}".removesuffix(".0") + "%"
    return f"{value:,.2f}".removesuffix(".00")


def bar_chart(title: str, categories: list[str], series: dict[str, list[float]], ylabel: str, *, percent: bool = False) -> str:
    """A (grouped) vertical bar chart: one group of bars per category, one bar per series.

    With one series, each bar carries its value above it; with several, a legend names them.
    """
    n_series = max(1, len(series))
    plot_w = max(260.0, max(36.0, 14.0 * n_series + 12) * len(categories))
    group = plot_w / max(1, len(categories))  # the categories share the plot's width
    longest = max((len(c) for c in categories), default=0)
    rotate = longest * _CHAR > group - 4  # labels wider than their group are set at 45 degrees
    left, top, right = 64.0, 34.0, (24.0 + _CHAR * max((len(s) for s in series), default=0) + 18 if n_series > 1 else 16.0)
    bottom = 30.0 + (longest * _CHAR * 0.71 if rotate else 14.0)
    plot_h = 200.0
    width, height = left + plot_w + right, top + plot_h + bottom
    highest = max((v for values in series.values() for v in values), default=0.0)
    counts = not percent and all(float(v).is_integer() for values in series.values() for v in values)
    ticks = nice_ticks(highest, whole=counts)
    scale = plot_h / ticks[-1]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" {_FONT} font-size="11">',
           f"<title>{escape(title)}</title>",
           f'<rect width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
           f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="13">{escape(title)}</text>']
    for tick in ticks:  # grid lines and y labels
        y = top + plot_h - tick * scale
        out.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(f'<text x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end" fill="#444">{escape(_label(tick, percent))}</text>')
    out.append(f'<text transform="translate(14 {top + plot_h / 2:.1f}) rotate(-90)" text-anchor="middle" fill="#444">{escape(ylabel)}</text>')
    bar = min(48.0, (group - 12) / n_series)
    for c, category in enumerate(categories):
        x0 = left + c * group + (group - bar * n_series) / 2
        for s, (name, values) in enumerate(series.items()):
            value = values[c]
            h = value * scale
            x, y = x0 + s * bar, top + plot_h - h
            tip = f"{name}, {category}: {_label(value, percent)}" if n_series > 1 else f"{category}: {_label(value, percent)}"
            out.append(f'<rect class="bar" data-series={quoteattr(name)} data-category={quoteattr(category)} data-value="{value!r}" '
                       f'x="{x:.2f}" y="{y:.2f}" width="{bar - 1:.2f}" height="{h:.2f}" fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(tip)}</title></rect>')
            if n_series == 1:
                out.append(f'<text x="{x + bar / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="#222">{escape(_label(value, percent))}</text>')
        cx, cy = left + c * group + group / 2, top + plot_h + 14
        if rotate:
            out.append(f'<text transform="translate({cx:.1f} {cy:.1f}) rotate(-45)" text-anchor="end" fill="#222">{escape(category)}</text>')
        else:
            out.append(f'<text x="{cx:.1f}" y="{cy:.1f}" text-anchor="middle" fill="#222">{escape(category)}</text>')
    out.append(f'<line x1="{left:.1f}" x2="{left + plot_w:.1f}" y1="{top + plot_h:.1f}" y2="{top + plot_h:.1f}" stroke="#444"/>')
    if n_series > 1:
        lx = left + plot_w + 12
        for s, name in enumerate(series):
            ly = top + 6 + 18 * s
            out.append(f'<rect x="{lx:.1f}" y="{ly:.1f}" width="12" height="12" fill="{PALETTE[s % len(PALETTE)]}"/>')
            out.append(f'<text x="{lx + 18:.1f}" y="{ly + 10:.1f}" fill="#222">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
