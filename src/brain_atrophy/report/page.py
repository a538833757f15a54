"""The study's report page, ``report.html`` in the output dataset: it opens on the answer.

First what a reader came for, without a click: the study's size and follow-up, the group
rates and differences per region (table and forest plot), the acquisitions and whether the
model adjusted for them, how many sessions QC flagged, and which subjects lose volume faster
than the reference group. Then one section per subject (those exceeding the reference group or
flagged by QC first): its trajectory per region with its own predicted line and its group's line
and band, its row of subject_effects.tsv, and its QC mosaic. Plots are inline SVG drawn here
(no plotting library: hundreds of small plots cost milliseconds); the group forest plot is
embedded; QC mosaics are linked relative to the page, which lives at the dataset's root.
"""

from __future__ import annotations

import base64
import html
import math

import numpy as np
import pandas as pd

GROUP_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")
# Subjects given a section of their own (those needing attention come first); the rest are in
# subject_effects.tsv. Keeps the page a few MB for cohorts of thousands.
MAX_SUBJECT_SECTIONS = 200

READING_SUBJECTS = (
    "<p>Each subject's rate is the model's prediction for that subject (its group's slope plus its "
    "own predicted deviation), with a 95 % prediction interval: from two or three scans it is "
    "uncertain, and the interval says how much. Red line: the subject; dashed line and grey band: "
    "its group.</p>"
)
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, td.text { text-align: left; }
.answer { background: #f6f8fa; padding: 0.8em 1.2em; border-left: 4px solid #1f77b4; }
.warning { background: #fff4e5; padding: 0.6em 1em; border-left: 4px solid #e67e00; }
.subject { border-top: 2px solid #ccc; margin-top: 1.5em; }
.plots svg { margin: 0 0.5em 0.5em 0; }
.flag { color: #b00; font-weight: bold; }
"""


def esc(value) -> str:
    return html.escape(str(value))


def fmt(value, digits: int = 2) -> str:
    """A number for the page: n/a for missing, fixed decimals otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


def table(frame: pd.DataFrame, columns: dict[str, str], table_id: str, digits: int = 2) -> str:
    """An HTML table of ``frame``'s ``columns`` ({column: heading})."""
    head = "".join(f"<th>{esc(title)}</th>" for title in columns.values())
    rows = []
    for _, row in frame.iterrows():
        cells = []
        for column in columns:
            value = row[column]
            text = isinstance(value, str)
            cells.append(
                f"<td{' class=text' if text else ''}>{esc(value) if text else fmt(value, digits)}</td>"
            )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def embedded_png(path, alt: str) -> str:
    data = base64.b64encode(open(path, "rb").read()).decode("ascii")
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{data}" style="max-width:100%">'


def study_size(description: dict, volumes: pd.DataFrame) -> str:
    """'N subjects (per group), M sessions, median follow-up F years (range).'"""
    analysed = volumes[volumes["in_window"] & ~volumes["excluded"]]
    sessions = analysed.drop_duplicates(["participant_id", "session_id"])
    years = sessions.groupby("participant_id")["years"]
    follow_up = years.max() - years.min()
    first_region = next(iter(description.get("regions", {})), None)
    per_group = ""
    if first_region:
        counts = sessions.groupby("group")["participant_id"].nunique()
        per_group = " (" + ", ".join(f"{g}: {counts.get(g, 0)}" for g in description["groups"]) + ")"
    return (
        f"{follow_up.size} subjects{per_group}, {len(sessions)} sessions; follow-up median "
        f"{follow_up.median():.2f} years (range {follow_up.min():.2f}–{follow_up.max():.2f})."
    )


def scanner_text(description: dict) -> str:
    decision = description.get("scanner_adjustment") or {}
    acquisitions = decision.get("acquisitions") or {}
    if len(acquisitions) < 2:
        only = esc(next(iter(acquisitions), "unknown"))
        return f"<p>Acquisitions: {only} (one; no scanner step to model).</p>"
    listed = ", ".join(f"{esc(name)} ({a['n_sessions']} sessions)" for name, a in acquisitions.items())
    if decision.get("adjusted"):
        return (
            f"<p>Acquisitions: {listed}. The model adjusts for a scanner step against "
            f"{esc(decision['reference_scanner'])} ({esc(decision['reason'])}); "
            "see the scanner steps below.</p>"
        )
    return (
        f'<p class="warning">Acquisitions: {listed}. <b>Not adjusted for scanner changes</b>: '
        f"{esc(decision.get('reason', ''))}. Rates may carry scanner steps.</p>"
    )


def answer_section(tables: dict, description: dict, forest_png) -> str:
    """The front of the page."""
    rates, differences = tables["rates_by_group"], tables["group_differences"]
    effects, qc = tables["subject_effects"], tables["qc"]
    exceeding = sorted(
        effects.loc[effects["exceeds_reference"].fillna(False).astype(bool), "participant_id"].unique()
    )
    flagged = int(qc["flagged"].sum())
    parts = [
        '<div class="answer">',
        f"<p><b>Study.</b> {esc(study_size(description, tables['volumes']))}</p>",
        scanner_text(description),
        f"<p><b>Quality control.</b> {flagged} of {len(qc)} sessions flagged (see the QC table).</p>",
        "<p><b>Subjects losing volume faster than the reference group</b> "
        f"({esc(description['reference_group'])}): "
        + (", ".join(f'<a href="#{esc(s)}">{esc(s)}</a>' for s in exceeding) or "none")
        + "</p>",
        "</div>",
        "<h2>Rates by group</h2>",
        table(
            rates,
            {
                "region": "region",
                "group": "group",
                "rate_pct_per_year": "rate %/yr",
                "ci_low": "CI low",
                "ci_high": "CI high",
                "n_subjects": "subjects",
                "n_sessions": "sessions",
            },
            "rates",
        ),  # fmt: skip
        f"<h2>Differences from {esc(description['reference_group'])}</h2>",
        table(
            differences,
            {
                "region": "region",
                "group": "group",
                "difference_pct_per_year": "difference %/yr",
                "ci_low": "CI low",
                "ci_high": "CI high",
                "p_value": "p",
                "p_fdr": "p (FDR)",
            },
            "differences",
            digits=3,
        ),  # fmt: skip
        embedded_png(forest_png, "forest plot of the rates by group") if forest_png else "",
    ]
    steps = tables.get("scanner_effects")
    if steps is not None and len(steps):
        parts += [
            "<h2>Scanner steps</h2>",
            table(
                steps,
                {
                    "region": "region",
                    "scanner": "acquisition",
                    "reference_scanner": "reference",
                    "step_pct": "step %",
                    "ci_low": "CI low",
                    "ci_high": "CI high",
                    "p_value": "p",
                    "n_subjects_spanning": "subjects spanning",
                },
                "scanner-steps",
                digits=3,
            ),  # fmt: skip
        ]
    return "\n".join(parts)


def svg_line(x1, y1, x2, y2, style: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}/>'


def trajectory_svg(
    points: pd.DataFrame, own: pd.Series | None, group_rate: pd.Series | None, region: str
) -> str:
    """One small plot: the subject's volumes as % of its first (dots), the model's line for the
    subject (solid) and its group's line with the CI band (shaded), over its follow-up."""
    width, height, pad = 220, 150, 28
    points = points.sort_values("years")
    base = points["volume_mm3"].iloc[0]
    years = points["years"].to_numpy(float)
    percent = 100 * points["volume_mm3"].to_numpy(float) / base
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

    def x(t):
        return pad + (width - pad - 6) * t / span

    def y(v):
        return height - pad + (pad + 6 - height) * (v - low) / (high - low)

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
    axes = (
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - 6}" y2="{height - pad}" stroke="#444"/>'
        f'<line x1="{pad}" y1="6" x2="{pad}" y2="{height - pad}" stroke="#444"/>'
        f'<text x="{pad}" y="{height - 8}" font-size="10">0</text>'
        f'<text x="{width - 40}" y="{height - 8}" font-size="10">{span:.1f} y</text>'
        f'<text x="2" y="14" font-size="10">{high:.1f}%</text>'
        f'<text x="2" y="{height - pad}" font-size="10">{low:.1f}%</text>'
        f'<text x="{pad + 4}" y="16" font-size="11" font-weight="bold">{esc(region)}</text>'
    )
    label = f'width="{width}" height="{height}" role="img" aria-label="{esc(region)}"'
    return f"<svg {label}>{axes}{''.join(shapes)}</svg>"


def subject_order(effects: pd.DataFrame, qc: pd.DataFrame) -> list[str]:
    """Subjects exceeding the reference group first, then those with flagged sessions, then the rest."""
    exceeds = effects.groupby("participant_id")["exceeds_reference"].apply(
        lambda s: s.fillna(False).astype(bool).any()
    )
    flagged = qc.groupby("participant_id")["flagged"].any().reindex(exceeds.index, fill_value=False)
    order = pd.DataFrame({"exceeds": exceeds, "flagged": flagged}).sort_values(
        ["exceeds", "flagged"], ascending=False, kind="stable"
    )
    return list(order.index)


def by_subject(frame: pd.DataFrame, subjects: list[str]) -> dict[str, pd.DataFrame]:
    """``frame``'s rows of each of ``subjects`` (an empty frame for a subject with none): one
    grouping, where a selection per subject would scan the whole table each time."""
    empty = frame.iloc[0:0]
    groups = dict(tuple(frame[frame["participant_id"].isin(subjects)].groupby("participant_id", sort=False)))
    return {subject: groups.get(subject, empty) for subject in subjects}


def subject_section(
    subject: str,
    rows: pd.DataFrame,
    volumes: pd.DataFrame,
    qc: pd.DataFrame,
    rates: dict[tuple[str, str], pd.Series],
    mosaic: str | None,
) -> str:
    """A subject's section, from its rows of subject_effects, volumes and qc; ``rates``: each
    (region, group)'s row of rates_by_group."""
    points = volumes[volumes["in_window"] & ~volumes["excluded"]]
    points_by_region = dict(tuple(points.groupby("region", sort=False)))
    flags = qc.loc[qc["flagged"], ["session_id", "flags"]]
    plots = []
    for _, own in rows.iterrows():
        region_points = points_by_region.get(own["region"])
        if region_points is None:
            continue
        group_rate = rates.get((own["region"], own["group"]))
        plots.append(trajectory_svg(region_points, own, group_rate, own["region"]))
    group = rows["group"].iloc[0] if len(rows) else ""
    exceeds = bool(rows["exceeds_reference"].fillna(False).astype(bool).any()) if len(rows) else False
    parts = [
        f'<section class="subject" id="{esc(subject)}"><h3>{esc(subject)} · {esc(group)}'
        + (' <span class="flag">faster than the reference group</span>' if exceeds else "")
        + "</h3>",
        f'<div class="plots">{"".join(plots)}</div>',
        table(
            rows,
            {
                "region": "region",
                "rate_pct_per_year": "rate %/yr",
                "ci_low": "CI low",
                "ci_high": "CI high",
                "two_stage_rate_pct_per_year": "two-stage %/yr",
                "percentile_vs_reference": "percentile vs ref.",
                "exceeds_reference": "exceeds ref.",
                "n_sessions": "sessions",
                "followup_years": "follow-up y",
            },
            f"effects-{subject}",
        ),  # fmt: skip
    ]
    if len(flags):
        parts.append(
            "<p>QC: " + "; ".join(f"{esc(r.session_id)}: {esc(r.flags)}" for r in flags.itertuples()) + "</p>"
        )
    if mosaic:
        parts.append(
            f'<img loading="lazy" alt="QC mosaic of {esc(subject)}" src="{esc(mosaic)}" '
            'style="max-width:100%">'
        )
    parts.append("</section>")
    return "\n".join(parts)


def report_page(tables: dict, description: dict, forest_png=None, mosaics: dict | None = None) -> str:
    """The whole page. ``tables``: rates_by_group, group_differences, subject_effects, qc,
    volumes (with group), scanner_effects; ``mosaics``: {subject: path relative to the page}."""
    mosaics = mosaics or {}
    order = subject_order(tables["subject_effects"], tables["qc"])
    shown = order[:MAX_SUBJECT_SECTIONS]
    more = len(order) - len(shown)
    effects, volumes, qc = (by_subject(tables[name], shown) for name in ("subject_effects", "volumes", "qc"))
    rates = {(row["region"], row["group"]): row for _, row in tables["rates_by_group"].iterrows()}
    sections = [subject_section(s, effects[s], volumes[s], qc[s], rates, mosaics.get(s)) for s in shown]
    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8"><title>brain-atrophy report</title>',
            f"<style>{STYLE}</style></head><body>",
            "<h1>brain-atrophy: regional atrophy rates</h1>",
            answer_section(tables, description, forest_png),
            "<h2>Subjects</h2>",
            READING_SUBJECTS,
            *sections,
            f"<p>{more} more subjects are in group/subject_effects.tsv.</p>" if more > 0 else "",
            "</body></html>",
        ]
    )
