"""Figures for the report: trajectories, forest plots, power curves and QC mosaics (matplotlib)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from ..stats import power  # noqa: E402
from ..stats.columns import (  # noqa: E402
    JACOBIAN,
    OUTCOME_COLUMNS,
    OUTCOME_TERMS,
    measure_rows,
    modelled_measure,
    modelled_outcome,
)

COLOURS = plt.get_cmap("tab10").colors


SCANNER_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*")
# The per-region figures have fixed sizes and short labels: fixed margins instead of
# tight_layout, which measured every tick label (two thirds of a power curve's 0.4 s).
FIXED_MARGINS = {"left": 0.12, "right": 0.97, "bottom": 0.12, "top": 0.92}


def group_colours(groups) -> dict:
    return {g: COLOURS[i % len(COLOURS)] for i, g in enumerate(groups)}


def trajectories(volumes: pd.DataFrame, rates: pd.DataFrame, region: str, path) -> None:
    """Each subject's volume as % of its baseline over years, by group, with the mixed model's
    group rate as a line and its CI as a band; of the modelled change measure's rows."""
    measure = modelled_measure(volumes)
    volumes = measure_rows(volumes, measure)
    analysed = volumes["in_window"] & ~volumes["excluded"]  # what the model saw
    data = volumes[(volumes["region"] == region) & analysed].sort_values(["participant_id", "years"])
    region_rates = rates[rates["region"] == region]
    colours = group_colours(region_rates["group"])
    fig, ax = plt.subplots(figsize=(7, 4.5))
    # every subject's line in one collection: a plot() per subject cost seconds at 1,000 subjects
    outcome = modelled_outcome(data)  # what the rates are of
    column = OUTCOME_COLUMNS[outcome]
    percent = 100 * data[column] / data.groupby("participant_id")[column].transform("first")
    subject_ids = data["participant_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, subject_ids[1:] != subject_ids[:-1]]) if len(data) else []
    lines = np.split(np.column_stack([data["years"], percent]), starts[1:]) if len(data) else []
    line_colours = [colours[group] for group in data["group"].to_numpy()[starts]]
    ax.add_collection(LineCollection(lines, colors=line_colours, alpha=0.25, linewidths=0.8))
    scanners = sorted(data["scanner"].dropna().unique()) if "scanner" in data else []
    if len(scanners) > 1:
        # each session marked by its acquisition, so a scanner step shows as a jump between markers
        baselines = data.groupby("participant_id")[column].transform("first")
        for scanner, marker in zip(scanners, SCANNER_MARKERS, strict=False):
            on = data["scanner"] == scanner
            ax.scatter(
                data.loc[on, "years"],
                100 * data.loc[on, column] / baselines[on],
                marker=marker,
                s=12,
                facecolors="none",
                edgecolors=data.loc[on, "group"].map(colours),
                linewidths=0.6,
                alpha=0.6,
                label=f"scanner: {scanner}",
            )
    span = np.linspace(0, max(data["years"].max(), 0.1), 50)
    for _, row in region_rates.iterrows():
        colour = colours[row["group"]]

        def line(rate, colour=colour):
            return 100 * (1 + rate / 100) ** span

        ax.fill_between(span, line(row["ci_low"]), line(row["ci_high"]), color=colour, alpha=0.2)
        label = f"{row['group']}: {row['rate_pct_per_year']:.2f} %/yr (n={row['n_subjects']})"
        ax.plot(span, line(row["rate_pct_per_year"]), color=colour, lw=2.5, label=label)
    quantity = OUTCOME_TERMS[outcome] + (" (Jacobian integration)" if measure == JACOBIAN else "")
    ax.set(xlabel="years since first scan in the window", ylabel=f"{quantity}, % of baseline", title=region)
    # volumes fall over time, so the lower left is empty; "best" would search every point
    ax.legend(frameon=False, fontsize=8, loc="lower left")
    fig.subplots_adjust(**FIXED_MARGINS)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def forest(
    table: pd.DataFrame, label_columns: list[str], estimate: str, title: str, path, zero_line=True
) -> None:
    """Estimates with CIs, one row per line of ``table``, grouped by region."""
    rows = table.reset_index(drop=True)
    fig, ax = plt.subplots(figsize=(7, 0.32 * len(rows) + 1.2))
    y = np.arange(len(rows))[::-1]
    colours = group_colours(rows[label_columns[-1]].unique())
    for yi, (_, row) in zip(y, rows.iterrows(), strict=True):
        colour = colours[row[label_columns[-1]]]
        ax.plot([row["ci_low"], row["ci_high"]], [yi, yi], color=colour, lw=2)
        ax.plot(row[estimate], yi, "o", color=colour)
    ax.set_yticks(
        y, [" · ".join(str(row[c]) for c in label_columns) for _, row in rows.iterrows()], fontsize=8
    )
    if zero_line:
        ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set(xlabel="%/yr", title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def power_curve(power_table: pd.DataFrame, region: str, path) -> None:
    """Subjects per arm against the fraction of the excess rate a treatment removes."""
    rows = power_table[power_table["region"] == region]
    fig, ax = plt.subplots(figsize=(6, 4))
    reductions = np.linspace(0.1, 1.0, 46)
    colours = group_colours(rows["group"].unique())
    for group, group_rows in rows.groupby("group"):
        first = group_rows.iloc[0]
        schedule = np.array([float(w) for w in str(first["schedule_weeks"]).split()]) / (365.25 / 7)
        excess_slope = 100 * np.log1p((first["excess_pct_per_year"]) / 100)
        n = [
            power.subjects_per_arm(
                r * excess_slope,
                first["slope_sd"],
                first["residual_sd"],
                schedule,
                first["alpha"],
                first["power"],
            )
            for r in reductions
        ]
        ax.plot(100 * reductions, n, color=colours[group], label=f"{group} vs {first['reference_group']}")
    ax.set_yscale("log")
    ax.set(xlabel="reduction of the excess rate (%)", ylabel="subjects per arm", title=region)
    ax.legend(frameon=False, fontsize=8)
    fig.subplots_adjust(**FIXED_MARGINS)
    fig.savefig(path, dpi=110)
    plt.close(fig)
