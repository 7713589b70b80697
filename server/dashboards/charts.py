"""Small server-rendered SVG charts for the dashboards (no script, no external resources).

Each function returns inline SVG markup (``markupsafe.Markup``, labels escaped) sized in CSS
pixels with a ``viewBox``, so it scales down to a 360 px phone screen. Every chart carries a
``<title>`` for screen readers and each mark a ``<title>`` with its exact value; the same
numbers are always shown in a table next to the chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR = "#2f6f4f"
ALERT = "#b3261e"
GRID = "#d0d7d3"


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value * 100:.1f}%"
    return f"{value:g}{unit}"


def bar_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "", max_value: float | None = None,
              width_px: int = 340, bar_px: int = 18, label_px: int = 90) -> Markup:
    """Horizontal bars, one per ``(label, value)``.

    Args:
        items: labels and values (values ≥ 0; with ``unit="%"`` a share 0.0–1.0).
        title: the chart's accessible title.
        unit: appended to values; ``%`` shows shares as percentages.
        max_value: the value of a full-width bar (default the largest value, 1.0 for ``%``).
        width_px / bar_px / label_px: sizes in CSS pixels.
    """
    top = max_value if max_value is not None else (1.0 if unit == "%" else max([v for _, v in items] or [0]))
    top = top or 1.0
    plot = width_px - label_px - 60
    height = max(1, len(items)) * (bar_px + 6) + 6
    parts = [f'<svg class="chart" role="img" width="{width_px}" height="{height}" viewBox="0 0 {width_px} {height}"'
             f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for i, (label, value) in enumerate(items):
        y = 6 + i * (bar_px + 6)
        w = max(0.0, min(1.0, value / top)) * plot
        text = _fmt(value, unit)
        parts.append(
            f'<text x="{label_px - 4}" y="{y + bar_px * 0.75:.1f}" text-anchor="end" font-size="12">{escape(label)}</text>'
            f'<rect x="{label_px}" y="{y}" width="{plot}" height="{bar_px}" fill="{GRID}" opacity="0.35"/>'
            f'<rect x="{label_px}" y="{y}" width="{w:.1f}" height="{bar_px}" fill="{BAR}">'
            f'<title>{escape(label)}: {escape(text)}</title></rect>'
            f'<text x="{label_px + plot + 4}" y="{y + bar_px * 0.75:.1f}" font-size="12">{escape(text)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def column_chart(items: Sequence[tuple[str, float]], *, title: str, unit: str = "", width_px: int = 340,
                 height_px: int = 140, highlight: Sequence[float] | None = None) -> Markup:
    """Vertical columns over time, one per ``(label, value)`` (e.g. one per day); only the first
    and last labels are written under the axis. ``highlight`` (same length) draws a second,
    red series over the columns (e.g. abnormal counts)."""
    n = max(1, len(items))
    top = 1.0 if unit == "%" else max([v for _, v in items] + list(highlight or []) + [0]) or 1.0
    plot_h = height_px - 34
    step = (width_px - 10) / n
    col = max(2.0, step * 0.7)
    parts = [f'<svg class="chart" role="img" width="{width_px}" height="{height_px}"'
             f' viewBox="0 0 {width_px} {height_px}" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
             f'<line x1="5" y1="{plot_h + 4}" x2="{width_px - 5}" y2="{plot_h + 4}" stroke="{GRID}"/>']
    for i, (label, value) in enumerate(items):
        x = 5 + i * step + (step - col) / 2
        h = max(0.0, min(1.0, value / top)) * plot_h
        parts.append(f'<rect x="{x:.1f}" y="{plot_h + 4 - h:.1f}" width="{col:.1f}" height="{h:.1f}" fill="{BAR}">'
                     f'<title>{escape(label)}: {escape(_fmt(value, unit))}</title></rect>')
        if highlight is not None and i < len(highlight) and highlight[i] > 0:
            hh = max(0.0, min(1.0, highlight[i] / top)) * plot_h
            parts.append(f'<rect x="{x:.1f}" y="{plot_h + 4 - hh:.1f}" width="{col:.1f}" height="{hh:.1f}"'
                         f' fill="{ALERT}"><title>{escape(label)}: {highlight[i]:g}</title></rect>')
    if items:
        parts.append(f'<text x="5" y="{height_px - 12}" font-size="11">{escape(items[0][0])}</text>'
                     f'<text x="{width_px - 5}" y="{height_px - 12}" font-size="11" text-anchor="end">'
                     f'{escape(items[-1][0])}</text>')
    parts.append(f'<text x="{width_px - 5}" y="12" font-size="11" text-anchor="end">{escape(_fmt(top, unit))}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def heatmap(rows: Sequence[tuple[str, Sequence[int]]], *, title: str, width_px: int = 340,
            label_px: int = 70) -> Markup:
    """A grid of ``(label, values)`` rows (e.g. buildings × 24 hours), darker for more."""
    cols = max([len(v) for _, v in rows] + [1])
    cell_w = (width_px - label_px - 4) / cols
    cell_h = 16
    top = max([max(v) if v else 0 for _, v in rows] + [1])
    height = len(rows) * (cell_h + 2) + 18
    parts = [f'<svg class="chart" role="img" width="{width_px}" height="{height}" viewBox="0 0 {width_px} {height}"'
             f' xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>']
    for r, (label, values) in enumerate(rows):
        y = r * (cell_h + 2)
        parts.append(f'<text x="{label_px - 4}" y="{y + 12}" font-size="11" text-anchor="end">{escape(label)}</text>')
        for c, v in enumerate(values):
            opacity = 0.06 + 0.94 * (v / top) if v else 0.04
            parts.append(f'<rect x="{label_px + c * cell_w:.1f}" y="{y}" width="{cell_w - 1:.1f}" height="{cell_h}"'
                         f' fill="{BAR}" opacity="{opacity:.2f}"><title>{escape(label)} {c:02d}:00 {v}</title></rect>')
    y = len(rows) * (cell_h + 2) + 12
    for c in range(0, cols, 6):
        parts.append(f'<text x="{label_px + c * cell_w:.1f}" y="{y}" font-size="10">{c:02d}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
