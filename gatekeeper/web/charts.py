"""Charts as inline SVG, rendered on the server: no script, no external asset, readable without colour.

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` for screen readers; bars
carry their value as text and a ``<title>`` tooltip; the page shows the same numbers in a table.
Every string that reaches the SVG is XML-escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

# One colour per decision, also told apart by the legend's words and the order of the stack.
OUTCOME_COLOURS: dict[str, str] = {"allow": "#2e7d32", "flag": "#b26a00", "pending": "#6a1b9a", "deny": "#c62828"}
OUTCOMES = ("allow", "flag", "pending", "deny")
BAR_COLOUR = "#1f5f99"
FONT = 'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif"'


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _num(v: float) -> str:
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.2f}"


def bar_chart(rows: Sequence[tuple[str, float]], *, title: str, width: int = 420, max_rows: int = 12) -> Markup:
    """Horizontal bars, largest first, each labelled above its bar (long rule ids stay readable)."""
    data = sorted(rows, key=lambda r: (-r[1], r[0]))[:max_rows]
    if not data:
        return _empty(title, width)
    row_h, bar_h, top = 40, 14, 4
    height = top + len(data) * row_h
    peak = max(v for _, v in data) or 1
    plot_w = width - 56  # room for the value after the longest bar
    max_chars = max(8, int(width / 7.2))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="t-{_id(title)} d-{_id(title)}" {FONT}>',
             f'<title id="t-{_id(title)}">{_e(title)}</title>',
             f'<desc id="d-{_id(title)}">{_e(", ".join(f"{k}: {_num(v)}" for k, v in data))}</desc>']
    for i, (label, value) in enumerate(data):
        y = top + i * row_h
        w = max(2.0, plot_w * value / peak) if value else 0.0
        shown = label if len(label) <= max_chars else label[:max_chars - 1] + "…"
        parts.append(f'<text x="0" y="{y + 13}" font-size="13" fill="#1d2733">{_e(shown)}</text>')
        parts.append(f'<rect x="0" y="{y + 18}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{BAR_COLOUR}">'
                     f'<title>{_e(label)}: {_num(value)}</title></rect>')
        parts.append(f'<text x="{w + 6:.1f}" y="{y + 30}" font-size="13" font-weight="600" '
                     f'fill="#1d2733">{_num(value)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_columns(buckets: Sequence[tuple[str, Mapping[str, float]]], *, title: str, width: int = 1000,
                    height: int = 260, series: Sequence[str] = OUTCOMES,
                    colours: Mapping[str, str] = OUTCOME_COLOURS) -> Markup:
    """Columns over time (one per bucket, in the order given), stacked by ``series``, with a legend."""
    if not buckets:
        return _empty(title, width)
    left, right, top, bottom = 44, 12, 30, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(counts.get(s, 0) for s in series) for _, counts in buckets]
    peak = _nice(max(totals) or 1)
    slot = plot_w / len(buckets)
    col_w = max(2.0, min(36.0, slot * 0.7))
    label_every = -(-len(buckets) // max(1, plot_w // 70))  # ceil: at most one label per 70 px
    desc = "; ".join(f"{label}: " + ", ".join(f"{s} {_num(c.get(s, 0))}" for s in series if c.get(s))
                     for label, c in buckets)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-labelledby="t-{_id(title)} d-{_id(title)}" {FONT}>',
             f'<title id="t-{_id(title)}">{_e(title)}</title>',
             f'<desc id="d-{_id(title)}">{_e(desc)}</desc>']
    # Legend across the top, words next to swatches.
    x = left
    for s in series:
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colours.get(s, BAR_COLOUR)}"/>'
                     f'<text x="{x + 16}" y="16" font-size="12" fill="#1d2733">{_e(s)}</text>')
        x += 16 + 8 * len(s) + 18
    for k in range(5):  # grid lines with their values
        v = peak * k / 4
        y = top + plot_h - plot_h * k / 4
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d5dbe3" '
                     f'stroke-width="1"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#4a5563">{_num(v)}</text>')
    for i, (label, counts) in enumerate(buckets):
        cx = left + slot * i + (slot - col_w) / 2
        y = float(top + plot_h)
        for s in series:
            n = counts.get(s, 0)
            if not n:
                continue
            h = plot_h * n / peak
            y -= h
            parts.append(f'<rect x="{cx:.1f}" y="{y:.1f}" width="{col_w:.1f}" height="{h:.1f}" '
                         f'fill="{colours.get(s, BAR_COLOUR)}"><title>{_e(label)}: {_e(s)} {_num(n)}</title></rect>')
        if i % label_every == 0:
            parts.append(f'<text x="{cx + col_w / 2:.1f}" y="{top + plot_h + 16}" text-anchor="middle" '
                         f'font-size="11" fill="#4a5563">{_e(label)}</text>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" '
                 f'stroke="#4a5563" stroke-width="1"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice(v: float) -> float:
    """A round axis maximum at or above ``v`` (1, 2, 2.5, 5 x 10^n)."""
    if v <= 4:
        return 4.0
    mag = 10 ** (len(str(int(v))) - 1)
    for step in (1, 2, 2.5, 5, 10):
        if step * mag >= v:
            return float(step * mag)
    return float(10 * mag)


def _id(title: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in title.lower())[:40]


def _empty(title: str, width: int) -> Markup:
    return Markup(f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} 40" '
                  f'width="{width}" height="40" {FONT}><title>{_e(title)}: no data</title>'
                  f'<text x="0" y="24" font-size="13" fill="#4a5563">No records in this range.</text></svg>')
