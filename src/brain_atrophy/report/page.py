"""The study's report page, ``report.html`` in the output dataset: it opens on the answer.

First what a reader came for, without a click: the study's size and follow-up, the group
rates and differences per region (table and forest plot), the acquisitions and whether the
model adjusted for them, how many sessions QC flagged, and which subjects lose volume faster
than the reference group. Then one section per subject (those exceeding the reference group or
flagged by QC first): its trajectory per region with its own predicted line and its group's line
and band, its row of subject_effects.tsv, and its QC mosaic. The page is the jinja2 template
``templates/page.html``; this module prepares what it shows. Plots are inline SVG
(:mod:`.svg`); the group forest plot is embedded; QC mosaics are linked relative to the page,
which lives at the dataset's root.
"""

from __future__ import annotations

import base64
import math
from functools import cache
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from .svg import trajectory_svg

# Subjects given a section of their own (those needing attention come first); the rest are in
# subject_effects.tsv. Keeps the page a few MB for cohorts of thousands.
MAX_SUBJECT_SECTIONS = 200
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
# {column: heading} of each table on the page
RATE_COLUMNS = {
    "region": "region", "group": "group", "rate_pct_per_year": "rate %/yr", "ci_low": "CI low",
    "ci_high": "CI high", "n_subjects": "subjects", "n_sessions": "sessions",
}  # fmt: skip
DIFFERENCE_COLUMNS = {
    "region": "region", "group": "group", "difference_pct_per_year": "difference %/yr", "ci_low": "CI low",
    "ci_high": "CI high", "p_value": "p", "p_fdr": "p (FDR)",
}  # fmt: skip
STEP_COLUMNS = {
    "region": "region", "scanner": "acquisition", "reference_scanner": "reference", "step_pct": "step %",
    "ci_low": "CI low", "ci_high": "CI high", "p_value": "p", "n_subjects_spanning": "subjects spanning",
}  # fmt: skip
SUBJECT_COLUMNS = {
    "region": "region", "rate_pct_per_year": "rate %/yr", "ci_low": "CI low", "ci_high": "CI high",
    "two_stage_rate_pct_per_year": "two-stage %/yr", "percentile_vs_reference": "percentile vs ref.",
    "exceeds_reference": "exceeds ref.", "n_sessions": "sessions", "followup_years": "follow-up y",
}  # fmt: skip


def fmt(value, digits: int = 2) -> str:
    """A number for the page: n/a for missing, fixed decimals otherwise."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return f"{float(value):.{digits}f}"


@cache
def template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["number"] = fmt
    return environment.get_template("page.html")


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


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


def scanner_summary(description: dict) -> dict:
    """What the page says about acquisitions: how many, each with its sessions, and whether the
    model adjusted for them (and why)."""
    decision = description.get("scanner_adjustment") or {}
    acquisitions = decision.get("acquisitions") or {}
    return {
        "count": len(acquisitions),
        "only": next(iter(acquisitions), "unknown"),
        "listed": ", ".join(f"{name} ({a['n_sessions']} sessions)" for name, a in acquisitions.items()),
        "adjusted": bool(decision.get("adjusted")),
        "reference": decision.get("reference_scanner", ""),
        "reason": decision.get("reason", ""),
    }


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


def subject_view(
    subject: str,
    rows: pd.DataFrame,
    volumes: pd.DataFrame,
    qc: pd.DataFrame,
    rates: dict[tuple[str, str], pd.Series],
    mosaic: str | None,
) -> dict:
    """A subject's section, from its rows of subject_effects, volumes and qc; ``rates``: each
    (region, group)'s row of rates_by_group."""
    points = volumes[volumes["in_window"] & ~volumes["excluded"]]
    points_by_region = dict(tuple(points.groupby("region", sort=False)))
    plots = []
    for _, own in rows.iterrows():
        region_points = points_by_region.get(own["region"])
        if region_points is not None:
            group_rate = rates.get((own["region"], own["group"]))
            plots.append(trajectory_svg(region_points, own, group_rate, own["region"]))
    flags = qc.loc[qc["flagged"], ["session_id", "flags"]]
    return {
        "id": subject,
        "group": rows["group"].iloc[0] if len(rows) else "",
        "exceeds": bool(rows["exceeds_reference"].fillna(False).astype(bool).any()) if len(rows) else False,
        "plots": plots,
        "rows": records(rows),
        "flags": list(flags.itertuples(index=False, name=None)),
        "mosaic": mosaic,
    }


def report_page(tables: dict, description: dict, forest_png=None, mosaics: dict | None = None) -> str:
    """The whole page. ``tables``: rates_by_group, group_differences, subject_effects, qc,
    volumes (with group), scanner_effects; ``mosaics``: {subject: path relative to the page}."""
    mosaics = mosaics or {}
    effects, qc = tables["subject_effects"], tables["qc"]
    order = subject_order(effects, qc)
    shown = order[:MAX_SUBJECT_SECTIONS]
    per_subject = {name: by_subject(tables[name], shown) for name in ("subject_effects", "volumes", "qc")}
    rates = {(row["region"], row["group"]): row for _, row in tables["rates_by_group"].iterrows()}
    steps = tables.get("scanner_effects")
    return template().render(
        style=STYLE,
        study=study_size(description, tables["volumes"]),
        scanners=scanner_summary(description),
        flagged=int(qc["flagged"].sum()),
        n_qc=len(qc),
        reference_group=description["reference_group"],
        exceeding=sorted(
            effects.loc[effects["exceeds_reference"].fillna(False).astype(bool), "participant_id"].unique()
        ),
        rates=records(tables["rates_by_group"]),
        rate_columns=RATE_COLUMNS,
        differences=records(tables["group_differences"]),
        difference_columns=DIFFERENCE_COLUMNS,
        forest_png=base64.b64encode(Path(forest_png).read_bytes()).decode("ascii") if forest_png else None,
        scanner_steps=records(steps) if steps is not None and len(steps) else [],
        step_columns=STEP_COLUMNS,
        subjects=[
            subject_view(
                s, *(per_subject[n][s] for n in ("subject_effects", "volumes", "qc")), rates, mosaics.get(s)
            )
            for s in shown
        ],
        subject_columns=SUBJECT_COLUMNS,
        more=len(order) - len(shown),
    )
