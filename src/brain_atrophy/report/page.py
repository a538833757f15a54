"""The study's report page, ``report.html`` in the output dataset: it opens on the answer.

First what a reader came for, without a click: the study's size and follow-up, the outcome
modelled, how volume change was measured (label counting or Jacobian integration) and which
sessions each group contributes, the run's warnings, the group rates and
differences per region (table and forest plot), with Jacobian integration the label counts'
rates beside its own when the run modelled both, the acquisitions and whether the model adjusted
for them, how many sessions QC flagged, and which subjects lose volume faster than the reference
group, region by region. Then one section per subject (those exceeding the reference group or
flagged by QC first): its trajectory per region with its own predicted line and its group's line
and band, its row of subject_effects.tsv, and its QC mosaic. Regions appear in the region
table's order throughout. The page is the jinja2 template ``templates/page.html``; this module
prepares what it shows. Plots are inline SVG (:mod:`.svg`); the group forest plot is embedded;
QC mosaics are linked relative to the page, which lives at the dataset's root.
"""

from __future__ import annotations

import base64
import math
from functools import cache
from pathlib import Path

import jinja2
import numpy as np
import pandas as pd

from ..stats.columns import (
    CHANGE_MEASURES,
    LABELS,
    OUTCOME_COLUMNS,
    measure_rows,
    modelled_measure,
    modelled_outcome,
)
from .svg import trajectory_svg

# Subjects given a section of their own (those needing attention come first); the rest are in
# subject_effects.tsv. Keeps the page a few MB for cohorts of thousands.
MAX_SUBJECT_SECTIONS = 200
STYLE = """
body { font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }
table { border-collapse: collapse; margin: 0.6em 0 1.2em; font-size: 0.9em; }
th, td { border-bottom: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child, th.text, td.text { text-align: left; }
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
# columns holding p-values: printed by p_text, so that none reads 0.000
P_COLUMNS = ("p_value", "p_fdr")
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


def p_text(value) -> str:
    """A p-value for the page: '< 0.001' below 0.001 (three decimals would print 0.000), three
    decimals otherwise, n/a for missing."""
    if value is None or pd.isna(value):
        return "n/a"
    return "< 0.001" if float(value) < 0.001 else f"{float(value):.3f}"


@cache
def template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    environment.filters["number"] = fmt
    environment.filters["p_value"] = p_text
    environment.globals["p_columns"] = P_COLUMNS
    return environment.get_template("page.html")


def records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def in_region_order(frame: pd.DataFrame, regions: list[str]) -> pd.DataFrame:
    """``frame``'s rows with its regions in the order of ``regions`` (the region table's); rows of
    a region not listed there come last, in their own order. Rows within a region keep theirs."""
    if "region" not in frame.columns:
        return frame
    rank = {region: position for position, region in enumerate(regions)}
    return frame.sort_values("region", key=lambda column: column.map(rank).fillna(len(rank)), kind="stable")


def exceeds(effects: pd.DataFrame) -> pd.Series:
    """Which rows of subject_effects exceed the reference group (missing counts as not)."""
    return effects["exceeds_reference"].fillna(False).astype(bool)


def exceeding_by_region(effects: pd.DataFrame, regions: list[str], sectioned: set[str]) -> list[dict]:
    """The subjects faster than the reference group, by region in the region table's order (only
    regions with some): each region with its count of subjects and its subjects, each subject with
    the other regions it exceeds in and whether it has a section on the page to link to."""
    exceeding = in_region_order(effects[exceeds(effects)], regions)
    regions_of = exceeding.groupby("participant_id", sort=False)["region"].agg(list)
    by_region = []
    for region, rows in exceeding.groupby("region", sort=False):
        subjects = sorted(rows["participant_id"].unique())
        also = {subject: [other for other in regions_of[subject] if other != region] for subject in subjects}
        by_region.append(
            {
                "region": region,
                "count": len(subjects),
                "subjects": [{"id": s, "also": also[s], "linked": s in sectioned} for s in subjects],
            }
        )
    return by_region


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


# what the page calls each outcome analysis.json names
OUTCOMES = {"volume": "region volume", "icv_fraction": "region volume as a fraction of intracranial volume"}


def outcome_text(description: dict) -> str | None:
    """'region volume', or the ICV fraction and where the ICV came from; None when analysis.json
    does not say (runs from before it recorded the outcome)."""
    outcome = description.get("outcome")
    if outcome is None:
        return None
    text = OUTCOMES.get(outcome, str(outcome))
    if outcome == "icv_fraction":
        source = description.get("outcome_icv_source") or "a source not recorded"
        text += f" (ICV from {source}); rates are % per year of that fraction"
    return text


# what the page calls each change measure in a table's heading
MEASURE_NAMES = {"labels": "label counting", "jacobian": "Jacobian integration"}


def measure_name(method: str) -> str:
    return MEASURE_NAMES.get(method, str(method))


def change_measure(description: dict, volumes: pd.DataFrame) -> str:
    """The change measure the rates are of: as analysis.json says, else as the volume table
    shows (:func:`modelled_measure`)."""
    return description.get("change_measure") or modelled_measure(volumes)


def change_measure_text(description: dict, volumes: pd.DataFrame) -> str:
    """How volume change was measured, and whether the label counts are set beside it."""
    measure = change_measure(description, volumes)
    text = description.get("change_measure_description") or CHANGE_MEASURES.get(measure, measure)
    comparison = description.get("measure_comparison") or {}
    if measure == LABELS:
        return text
    if LABELS in (comparison.get("measures") or []):
        return text + "; label counting of the same sessions, by the same model, is set beside it below"
    if comparison.get("reason"):
        return text + f"; label counts not compared: {comparison['reason']}"
    return text


def measures_side_by_side(table: pd.DataFrame | None, regions: list[str]) -> tuple[list[dict], dict]:
    """rates_by_measure.tsv as one row per region and group with each measure's rate and CI
    width side by side (the modelled measure first), and the columns' headings; nothing when
    the table holds one measure."""
    if table is None or table.empty or table["method"].nunique() < 2:
        return [], {}
    methods = list(dict.fromkeys(table["method"]))
    columns = {"region": "region", "group": "group", "n_subjects": "subjects"}
    for method in methods:
        columns[f"rate_{method}"] = f"rate %/yr ({measure_name(method)})"
        columns[f"ci_width_{method}"] = f"CI width ({measure_name(method)})"
    rows = []
    for (region, group), pair in table.groupby(["region", "group"], sort=False):
        row = dict.fromkeys(columns, math.nan) | {"region": region, "group": group}
        row["n_subjects"] = pair["n_subjects"].iloc[0]
        for method, rate, width in zip(
            pair["method"], pair["rate_pct_per_year"], pair["ci_width"], strict=True
        ):
            row[f"rate_{method}"], row[f"ci_width_{method}"] = rate, width
        rows.append(row)
    return records(in_region_order(pd.DataFrame(rows), regions)), columns


def week_number(value) -> str:
    """24 for 24.0: weeks as the protocol names them."""
    return f"{float(value):g}"


def window_span(window: dict) -> str:
    """Which sessions the window keeps: 'sessions from week 24 on, rebaselined', 'sessions up to
    week 96', 'every session'."""
    start, end = window.get("start_weeks") or 0, window.get("end_weeks")
    if start and end is not None:
        span = f"sessions from week {week_number(start)} to week {week_number(end)}"
    elif start:
        span = f"sessions from week {week_number(start)} on"
    elif end is not None:
        span = f"sessions up to week {week_number(end)}"
    else:
        span = "every session"
    return span + (", rebaselined" if window.get("rebaseline") else "")


def window_sessions(description: dict) -> list[str]:
    """One line per group saying which sessions it contributes, when the window leaves some out
    (it applies to some groups only, starts after week 0 or ends); none otherwise. Without the
    window's groups (older analysis.json) it applies to every group; without sessions_by_group the
    lines carry no counts."""
    window = description.get("window") or {}
    groups = list(description.get("groups") or [])
    windowed = window.get("groups") or groups  # the config naming none: every group
    trimmed = bool(window.get("start_weeks")) or window.get("end_weeks") is not None
    if not trimmed and set(groups) <= set(windowed):
        return []
    sessions = window.get("sessions_by_group") or {}
    lines = []
    for group in groups + [g for g in sessions if g not in groups]:
        span = window_span(window) if group in windowed else "every session"
        counts = sessions.get(group)
        if counts:
            planned = counts.get("weeks") or []
            visits = f"; weeks {', '.join(week_number(w) for w in planned)}" if planned else ""
            span += f" ({counts['n_subjects']} subjects, {counts['n_sessions']} sessions{visits})"
        lines.append(f"{group}: {span}")
    return lines


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
    exceeding = exceeds(effects).groupby(effects["participant_id"]).any()
    flagged = qc.groupby("participant_id")["flagged"].any().reindex(exceeding.index, fill_value=False)
    order = pd.DataFrame({"exceeds": exceeding, "flagged": flagged}).sort_values(
        ["exceeds", "flagged"], ascending=False, kind="stable"
    )
    return list(order.index)


def by_subject(frame: pd.DataFrame, subjects: list[str]) -> dict[str, pd.DataFrame]:
    """``frame``'s rows of each of ``subjects`` (an empty frame for a subject with none): one
    grouping, where a selection per subject would scan the whole table each time."""
    empty = frame.iloc[0:0]
    groups = dict(tuple(frame[frame["participant_id"].isin(subjects)].groupby("participant_id", sort=False)))
    return {subject: groups.get(subject, empty) for subject in subjects}


def modelled(volumes: pd.DataFrame) -> str:
    """The volume table's column the rates are of: the ICV fractions when the run modelled them."""
    return OUTCOME_COLUMNS[modelled_outcome(volumes)]


def subject_view(
    subject: str,
    rows: pd.DataFrame,
    volumes: pd.DataFrame,
    qc: pd.DataFrame,
    rates: dict[tuple[str, str], pd.Series],
    mosaic: str | None,
    regions: list[str],
) -> dict:
    """A subject's section, from its rows of subject_effects, volumes and qc; ``rates``: each
    (region, group)'s row of rates_by_group; plots and rows in the order of ``regions``."""
    rows = in_region_order(rows, regions)
    points = volumes[volumes["in_window"] & ~volumes["excluded"]]
    points_by_region = dict(tuple(points.groupby("region", sort=False)))
    plots = []
    for _, own in rows.iterrows():
        region_points = points_by_region.get(own["region"])
        if region_points is not None:
            group_rate = rates.get((own["region"], own["group"]))
            plots.append(trajectory_svg(region_points, own, group_rate, own["region"], modelled(volumes)))
    flags = qc.loc[qc["flagged"], ["session_id", "flags"]]
    return {
        "id": subject,
        "group": rows["group"].iloc[0] if len(rows) else "",
        "exceeds": bool(exceeds(rows).any()),
        "plots": plots,
        "rows": records(rows),
        "flags": list(flags.itertuples(index=False, name=None)),
        "mosaic": mosaic,
    }


def report_page(tables: dict, description: dict, forest_png=None, mosaics: dict | None = None) -> str:
    """The whole page. ``tables``: rates_by_group, group_differences, subject_effects, qc,
    volumes (with group), scanner_effects, rates_by_measure (optional); ``mosaics``: {subject:
    path relative to the page}."""
    mosaics = mosaics or {}
    effects, qc = tables["subject_effects"], tables["qc"]
    # the modelled measure's rows only: with Jacobian integration the table also holds label counts
    volumes = tables["volumes"]
    measure = change_measure(description, volumes)
    tables = tables | {"volumes": measure_rows(volumes, measure)}
    regions = list(description.get("regions") or {})
    by_measure, by_measure_columns = measures_side_by_side(tables.get("rates_by_measure"), regions)
    order = subject_order(effects, qc)
    shown = order[:MAX_SUBJECT_SECTIONS]
    per_subject = {name: by_subject(tables[name], shown) for name in ("subject_effects", "volumes", "qc")}
    rates = {(row["region"], row["group"]): row for _, row in tables["rates_by_group"].iterrows()}
    steps = tables.get("scanner_effects")
    return template().render(
        style=STYLE,
        study=study_size(description, tables["volumes"]),
        outcome=outcome_text(description),
        change_measure=change_measure_text(description, volumes) if "change_measure" in description else None,
        rates_by_measure=by_measure,
        rates_by_measure_columns=by_measure_columns,
        window_sessions=window_sessions(description),
        warnings=list(description.get("warnings") or []),
        scanners=scanner_summary(description),
        flagged=int(qc["flagged"].sum()),
        n_qc=len(qc),
        reference_group=description["reference_group"],
        exceeding=exceeding_by_region(effects, regions, set(shown)),
        n_exceeding=effects.loc[exceeds(effects), "participant_id"].nunique(),
        rates=records(in_region_order(tables["rates_by_group"], regions)),
        rate_columns=RATE_COLUMNS,
        differences=records(in_region_order(tables["group_differences"], regions)),
        difference_columns=DIFFERENCE_COLUMNS,
        forest_png=base64.b64encode(Path(forest_png).read_bytes()).decode("ascii") if forest_png else None,
        scanner_steps=records(in_region_order(steps, regions)) if steps is not None and len(steps) else [],
        step_columns=STEP_COLUMNS,
        subjects=[
            subject_view(
                s,
                *(per_subject[n][s] for n in ("subject_effects", "volumes", "qc")),
                rates,
                mosaics.get(s),
                regions,
            )
            for s in shown
        ],
        subject_columns=SUBJECT_COLUMNS,
        more=len(order) - len(shown),
    )
