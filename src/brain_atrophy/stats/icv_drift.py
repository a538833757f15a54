"""Whether the sessions' intracranial volume drifts: adult heads do not grow, so a trend in ICV
is a measurement artefact (an atlas-scaling ICV that follows atrophy, a scanner drift), and it
makes absolute and ICV-normalized outcomes disagree by about its slope."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from . import mixed
from .rates import pct

log = logging.getLogger(__name__)

ICV_DRIFT_COLUMNS = [
    "source",
    "slope_pct_per_year",
    "ci_low",
    "ci_high",
    "p_value",
    "n_subjects",
    "n_sessions",
    "drifts",
]
# the size of a drift worth a warning, in %/yr: well below a healthy brain's 0.2-0.5 %/yr loss
MIN_DRIFT_PCT_PER_YEAR = 0.1


def icv_drift(sessions: pd.DataFrame, icv: pd.Series, source: str, level: float = 0.95) -> dict:
    """The ICV's mean rate of change (%/yr) by the pipeline's mixed model,
    100·ln(ICV) ~ years + (years | subject), on one row per session (``sessions``: participant_id,
    years; ``icv`` aligned with it). ``drifts``: the CI excludes 0 and the slope exceeds
    :data:`MIN_DRIFT_PCT_PER_YEAR` in size."""
    keep = icv.notna() & (icv > 0)
    data = sessions[keep].assign(icv=icv[keep]).sort_values(["participant_id", "years"], kind="stable")
    row = {"source": source, "n_subjects": int(data["participant_id"].nunique()), "n_sessions": len(data)}
    spanning = data.groupby("participant_id")["years"].nunique() > 1
    if spanning.sum() < 2:
        # None, not NaN: analysis.json must stay valid JSON (the table writes n/a either way)
        unknown = dict.fromkeys(["slope_pct_per_year", "ci_low", "ci_high", "p_value"])
        return row | unknown | {"drifts": False}
    if (data.groupby("participant_id")["icv"].nunique() == 1).all():
        # every subject's ICV is the same at each session (e.g. all labelled voxels when the
        # segmenter relabels lost tissue as CSF): no drift, and nothing for a model to estimate
        return row | {
            "slope_pct_per_year": 0.0,
            "ci_low": 0.0,
            "ci_high": 0.0,
            "p_value": 1.0,
            "drifts": False,
        }
    years = data["years"].to_numpy(float)
    X = np.column_stack([np.ones_like(years), years])
    y = 100.0 * np.log(data["icv"].to_numpy(float))
    try:
        fit = mixed.fit_with_fallback(
            y, X, years, data["participant_id"].to_numpy(), ["(Intercept)", "years"]
        )
        est = fit.contrast([0.0, 1.0], level)
    except (np.linalg.LinAlgError, ValueError) as err:
        log.warning("ICV drift: the model cannot be estimated (%s)", err)
        return row | dict.fromkeys(["slope_pct_per_year", "ci_low", "ci_high", "p_value"]) | {"drifts": False}
    slope, low, high = pct(est["estimate"]), pct(est["ci_low"]), pct(est["ci_high"])
    drifts = bool((low > 0 or high < 0) and abs(slope) > MIN_DRIFT_PCT_PER_YEAR)
    return row | {
        "slope_pct_per_year": slope,
        "ci_low": low,
        "ci_high": high,
        "p_value": est["p_value"],
        "drifts": drifts,
    }


def drift_warning(row: dict) -> str | None:
    """The warning for a drifting ICV, or None."""
    if not row.get("drifts"):
        return None
    return (
        f"ICV drift: the sessions' intracranial volume ({row['source']}) changes by "
        f"{row['slope_pct_per_year']:+.2f} %/yr (CI {row['ci_low']:+.2f} to {row['ci_high']:+.2f}), "
        "though adult heads do not grow; rates of absolute and ICV-normalized volumes will disagree by about "
        f"{abs(row['slope_pct_per_year']):.2f} %/yr"
    )
