"""The report's small trajectory plots, as inline SVG: hundreds of them cost milliseconds, where a
plotting library would take seconds."""

from __future__ import annotations

from html import escape as esc

import numpy as np
import pandas as pd

# Plot size and margins (px). The title has a band of its own above the plot area (TOP), so it
# cannot collide with the top y-axis label; the y-axis labels end left of the axis (LEFT).
WIDTH, HEIGHT = 220, 160
LEFT, RIGHT, TOP, BOTTOM = 40, 6, 28, 28
TITLE_SIZE, LABEL_SIZE = 11, 10


def svg_line(x1, y1, x2, y2, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def trajectory_svg(
    points: pd.DataFrame,
    own: pd.Series | None,
    group_rate: pd.Series | None,
    region: str,
    column: str = "volume_mm3",
) -> str:
    """One small plot: the subject's modelled outcome (``column``: its volumes, or their ICV
    fractions) as % of its first (dots), the model's line for the subject (solid) and its
    group's line with the CI band (shaded), over its follow-up."""
    points = points.sort_values("years")
    base = points[column].iloc[0]
    years = points["years"].to_numpy(float)
    percent = 100 * points[column].to_numpy(float) / base
    span = max(float(years.max()), 0.5)

    def line(rate):
        return 100 * (1 + rate / 100) ** np.array([0.0, span])

    curves = [percent]
    if group_rate is not None:
        curves += [line(group_rate["ci_low"]), line(group_rate["ci_high"])]
    if own is not None:
        curves.append(line(own["rate_pct_per_year"]))
    low, high = min(c.min() for c in curves), max(c.max() for c in curves)
    low, high = (low - 0.2, high + 0.2) if high - low < 0.4 else (low, high)

    bottom = HEIGHT - BOTTOM  # the x axis

    def x(t):
        return LEFT + (WIDTH - LEFT - RIGHT) * t / span

    def y(v):
        return bottom - (bottom - TOP) * (v - low) / (high - low)

    shapes = []
    if group_rate is not None:
        lo, hi = line(group_rate["ci_low"]), line(group_rate["ci_high"])
        band = f"{x(0)},{y(lo[0])} {x(span)},{y(lo[1])} {x(span)},{y(hi[1])} {x(0)},{y(hi[0])}"
        shapes.append(f'<polygon points="{band}" fill="#999" opacity="0.25"/>')
        mid = line(group_rate["rate_pct_per_year"])
        shapes.append(svg_line(x(0), y(mid[0]), x(span), y(mid[1]), 'stroke="#777" stroke-dasharray="4 3"'))
    if own is not None:
        mine = line(own["rate_pct_per_year"])
        shapes.append(svg_line(x(0), y(mine[0]), x(span), y(mine[1]), 'stroke="#d62728" stroke-width="2"'))
    shapes += [
        f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="#1f77b4"/>'
        for t, v in zip(years, percent, strict=True)
    ]
    y_label = f'x="{LEFT - 3}" font-size="{LABEL_SIZE}" text-anchor="end"'
    axes = (
        f'<line x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}" stroke="#444"/>'
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#444"/>'
        f'<text x="{LEFT}" y="{HEIGHT - 8}" font-size="{LABEL_SIZE}">0</text>'
        f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" font-size="{LABEL_SIZE}" text-anchor="end">'
        f"{span:.1f} y</text>"
        f'<text {y_label} y="{TOP + 4}">{high:.1f}%</text>'
        f'<text {y_label} y="{bottom + 4}">{low:.1f}%</text>'
        f'<text x="4" y="{TOP - 10}" font-size="{TITLE_SIZE}" font-weight="bold">{esc(region)}</text>'
    )
    label = f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{esc(region)}"'
    return f"<svg {label}>{axes}{''.join(shapes)}</svg>"
