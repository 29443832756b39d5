"""Server-rendered SVG charts (no JavaScript library): every chart is an <svg role="img"> with a
<title> per mark (hover shows the figure) and an aria-label; the page puts its table beside it.

Text is escaped with markupsafe; the functions return Markup, safe to put in a template.
"""
from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# The decision categories, each its own colour: "modified" is not "accepted".
COLOURS = {"accepted": "#1f7a3a", "modified": "#2457c5", "rejected": "#b3261e", "pending": "#aab2bd",
           "succeeded": "#1f7a3a", "failed": "#b3261e", "cancelled": "#8a5a00", "queued": "#aab2bd",
           "running": "#7a3fb5"}
PALETTE = ("#2457c5", "#b35c00", "#0f7f7a", "#7a3fb5", "#b3261e", "#1f7a3a", "#5d6875", "#8a5a00")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def colour(name: str, index: int = 0) -> str:
    return COLOURS.get(name, PALETTE[index % len(PALETTE)])


def _pct(x: float) -> str:
    return f"{x * 100:.1f} %"


def stacked_shares(rows: Sequence[tuple[str, dict[str, int]]], *, categories: Sequence[str],
                   title: str, chart_id: str) -> Markup:
    """One horizontal 100 % bar per group, split into the categories (e.g. accepted / modified /
    rejected): the R3 figure when the groups are revision depths."""
    label_w, bar_w, row_h, top = 170, 420, 26, 28
    height = top + row_h * max(1, len(rows)) + 10
    parts = [(f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="{escape(title)}" viewBox="0 0 {label_w + bar_w + 90} {height}" {FONT}>'),
             f"<title>{escape(title)}</title>"]
    x = label_w
    for i, cat in enumerate(categories):  # legend
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour(cat, i)}"/>'
                     f'<text x="{x + 16}" y="16">{escape(cat)}</text>')
        x += 24 + 8 * len(cat)
    if not rows:
        parts.append(f'<text x="{label_w}" y="{top + 16}" fill="#5d6875">No data yet.</text>')
    for r, (label, counts) in enumerate(rows):
        y = top + r * row_h
        total = sum(counts.get(c, 0) for c in categories)
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(str(label)[:28])}</text>')
        x = float(label_w)
        for i, cat in enumerate(categories):
            n = counts.get(cat, 0)
            if not total or not n:
                continue
            w = bar_w * n / total
            parts.append(f'<rect class="mark" data-category="{escape(cat)}" data-count="{n}" x="{x:.1f}" y="{y + 3}" '
                         f'width="{w:.1f}" height="{row_h - 8}" fill="{colour(cat, i)}">'
                         f"<title>{escape(str(label))}: {n} {escape(cat)} ({_pct(n / total)})</title></rect>")
            x += w
        note = f"{total} decided" if total else "no decisions"
        parts.append(f'<text x="{label_w + bar_w + 6}" y="{y + 15}" fill="#5d6875">{note}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def stacked_columns(points: Sequence[tuple[str, dict[str, int]]], *, series: Sequence[str], title: str,
                    chart_id: str) -> Markup:
    """Counts over time: one column per day, stacked by series (run status, decision)."""
    left, width, height, bottom, top = 44, 560, 200, 40, 28
    peak = max((sum(p.get(s, 0) for s in series) for _d, p in points), default=0) or 1
    n = max(1, len(points))
    step = width / n
    parts = [(f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="{escape(title)}" viewBox="0 0 {left + width + 10} {top + height + bottom}" {FONT}>'),
             f"<title>{escape(title)}</title>"]
    x = left
    for i, s in enumerate(series):
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour(s, i)}"/>'
                     f'<text x="{x + 16}" y="16">{escape(s)}</text>')
        x += 24 + 8 * len(s)
    base = top + height
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + width}" y2="{base}" stroke="#d9dee5"/>'
                 f'<text x="{left - 6}" y="{top + 10}" text-anchor="end">{peak}</text>'
                 f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
    if not points:
        parts.append(f'<text x="{left + 8}" y="{top + height / 2}" fill="#5d6875">No data yet.</text>')
    label_every = max(1, n // 8)
    for k, (day, counts) in enumerate(points):
        x0 = left + k * step
        y = float(base)
        for i, s in enumerate(series):
            v = counts.get(s, 0)
            if not v:
                continue
            h = height * v / peak
            y -= h
            parts.append(f'<rect class="mark" data-category="{escape(s)}" data-count="{v}" x="{x0 + 1:.1f}" '
                         f'y="{y:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{colour(s, i)}">'
                         f"<title>{escape(day)}: {v} {escape(s)}</title></rect>")
        if k % label_every == 0:
            parts.append(f'<text x="{x0 + step / 2:.1f}" y="{base + 16}" text-anchor="middle">{escape(day[5:])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def lines(series: dict[str, Sequence[tuple[str, float | None]]], *, title: str, chart_id: str,
          y_max: float = 1.0, percent: bool = True) -> Markup:
    """One line per series over shared x labels (e.g. each model's acceptance per week)."""
    left, width, height, bottom, top = 44, 560, 180, 36, 28 + 16 * ((len(series) + 2) // 3)
    xs = sorted({x for pts in series.values() for x, _v in pts})
    pos = {x: i for i, x in enumerate(xs)}
    step = width / max(1, len(xs) - 1)
    parts = [(f'<svg class="chart" id="{escape(chart_id)}" xmlns="http://www.w3.org/2000/svg" role="img" '
             f'aria-label="{escape(title)}" viewBox="0 0 {left + width + 20} {top + height + bottom}" {FONT}>'),
             f"<title>{escape(title)}</title>"]
    for i, name in enumerate(series):
        lx, ly = left + (i % 3) * 190, 6 + 16 * (i // 3)
        parts.append(f'<rect x="{lx}" y="{ly}" width="12" height="12" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{lx + 16}" y="{ly + 10}">{escape(name[:26])}</text>')
    base = top + height
    top_label = "100 %" if percent and y_max == 1.0 else f"{y_max:g}"
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + width}" y2="{base}" stroke="#d9dee5"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left + width}" y2="{top}" stroke="#eef0f3"/>'
                 f'<text x="{left - 6}" y="{top + 4}" text-anchor="end">{top_label}</text>'
                 f'<text x="{left - 6}" y="{base}" text-anchor="end">0</text>')
    if not xs:
        parts.append(f'<text x="{left + 8}" y="{top + height / 2}" fill="#5d6875">No data yet.</text>')
    every = max(1, len(xs) // 8)
    for i, x in enumerate(xs):
        if i % every == 0:
            parts.append(f'<text x="{left + i * step:.1f}" y="{base + 16}" text-anchor="middle">{escape(x[5:] or x)}</text>')
    for i, (name, pts) in enumerate(series.items()):
        c = PALETTE[i % len(PALETTE)]
        coords = [(left + pos[x] * step, base - height * min(v, y_max) / y_max, x, v) for x, v in pts if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{'M' if j == 0 else 'L'}{cx:.1f},{cy:.1f}" for j, (cx, cy, _x, _v) in enumerate(coords))
            parts.append(f'<path d="{path}" fill="none" stroke="{c}" stroke-width="2"/>')
        for cx, cy, x, v in coords:
            shown = _pct(v) if percent else f"{v:g}"
            parts.append(f'<circle class="mark" cx="{cx:.1f}" cy="{cy:.1f}" r="3.5" fill="{c}">'
                         f"<title>{escape(name)} {escape(x)}: {shown}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))
