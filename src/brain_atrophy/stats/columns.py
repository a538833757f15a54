"""What the group tables hold, for the steps that read them: their columns, the outcome a
volume table was modelled on, and how each row was measured (the change measure).

Kept apart from :mod:`brain_atrophy.stats.group`, which fits the models, so that the report's
and QC's processes read the tables without importing statsmodels and scipy.stats (0.5-0.7 s
of each process's start-up)."""

from __future__ import annotations

import pandas as pd

RATES_BY_GROUP_COLUMNS = [
    "region", "group", "rate_pct_per_year", "ci_low", "ci_high", "n_subjects", "n_sessions", "converged",
    "slope", "slope_se", "df", "model",
]  # fmt: skip
DIFFERENCE_COLUMNS = [
    "region", "group", "reference_group", "difference_pct_per_year", "ci_low", "ci_high", "p_value", "p_fdr",
    "slope_difference", "slope_difference_se", "df", "effect_size", "converged", "model",
]  # fmt: skip
PAIRWISE_COLUMNS = [
    "region", "group", "versus", "difference_pct_per_year", "ci_low", "ci_high", "p_value", "p_adjusted",
    "correction", "effect_size", "slope_difference", "slope_difference_se", "df", "converged", "model",
]  # fmt: skip


# The model's outcome (config `outcome`) → the column of the volume table it is read from.
OUTCOME_COLUMNS = {"volume": "volume_mm3", "icv_fraction": "icv_fraction"}
OUTCOME_TERMS = {"volume": "volume", "icv_fraction": "volume/ICV"}  # as the model's formula names them


def modelled_outcome(volumes) -> str:
    """The outcome a group volume table was modelled on: ``icv_fraction`` when it carries that
    column (the run modelled it), else ``volume``."""
    return "icv_fraction" if OUTCOME_COLUMNS["icv_fraction"] in volumes else "volume"


# How a session's region volume was measured (config `change_measure`; the volume tables'
# `method` column), and what analysis.json, the methods and the page call it.
LABELS, JACOBIAN = "labels", "jacobian"
CHANGE_MEASURES = {
    LABELS: "label counting in each session's own segmentation",
    JACOBIAN: "Jacobian integration of each follow-up's registration to its baseline "
    "(ANTs SyN, halfway space)",
}
METHOD = "method"


def with_method(volumes: pd.DataFrame) -> pd.DataFrame:
    """``volumes`` with its ``method`` column (after ``region``): a table from before the
    column was written counted labels."""
    if METHOD in volumes:
        return volumes
    at = list(volumes.columns).index("region") + 1 if "region" in volumes else len(volumes.columns)
    volumes = volumes.copy()
    volumes.insert(at, METHOD, LABELS)
    return volumes


def modelled_measure(volumes: pd.DataFrame) -> str:
    """The change measure a volume table's rates are of: ``jacobian`` when any of its rows is
    (with change_measure: jacobian every session has such rows), else ``labels``."""
    if METHOD in volumes and (volumes[METHOD] == JACOBIAN).any():
        return JACOBIAN
    return LABELS


def measure_rows(volumes: pd.DataFrame, measure: str | None = None) -> pd.DataFrame:
    """The rows of ``volumes`` measured by ``measure`` (default: the one its rates are of,
    :func:`modelled_measure`); a table without a ``method`` column is all label counts."""
    measure = measure or modelled_measure(volumes)
    if METHOD not in volumes:
        return volumes if measure == LABELS else volumes.iloc[0:0]
    return volumes[volumes[METHOD] == measure]
