"""Each subject's own rate, as the fitted random-coefficients model predicts it.

The prediction is the subject's fixed slope (its group's, plus slope covariates at its values)
plus its predicted random slope (BLUP). It borrows strength from the group: a subject with two
or three noisy scans is pulled toward its group, which makes it more accurate on average than
the subject's own least-squares slope, and its interval honest about how little three scans
say. The interval is the usual approximation: the random slope's conditional variance (lme4's
``condVar``) plus the fixed slope's variance, ignoring their covariance and the uncertainty of
the variance parameters; normal quantiles.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from .mixed import conditional_modes
from .rates import pct

SUBJECT_EFFECT_COLUMNS = [
    "participant_id", "region", "group", "n_sessions", "followup_years", "rate_pct_per_year", "ci_low",
    "ci_high", "two_stage_rate_pct_per_year", "z_vs_reference", "percentile_vs_reference",
    "exceeds_reference", "cutoff_pct_per_year", "beyond_cutoff", "slope", "slope_se", "model",
]  # fmt: skip


def reference_threshold(reference_slope: float, slope_sd: float, percentile: float) -> float:
    """The slope below which the fastest (100 − percentile) % of the reference group's subjects
    lose volume: the reference group's ``percentile``-th percentile of loss."""
    return reference_slope - stats.norm.ppf(percentile / 100.0) * slope_sd


def subject_rows(
    fit,
    slope_contrasts: np.ndarray,
    subjects: pd.DataFrame,
    region: str,
    reference_slope: float,
    level: float = 0.95,
    percentile: float = 95.0,
    cutoff: float | None = None,
) -> list[dict]:
    """One row per subject of a fitted region. ``slope_contrasts`` (one row per subject, in
    ``fit.subjects`` order) pick each subject's fixed slope out of β; ``subjects`` is indexed
    by participant_id with group, n_sessions, followup_years and two_stage_rate_pct_per_year."""
    modes, covariance = conditional_modes(fit)
    fixed = slope_contrasts @ fit.beta
    fixed_variance = np.einsum("ij,jk,ik->i", slope_contrasts, fit.cov_beta, slope_contrasts)
    slope = fixed + modes[:, 1]
    se = np.sqrt(fixed_variance + covariance[:, 1, 1])
    quantile = stats.norm.ppf(0.5 + level / 2)
    sd = fit.slope_sd
    z = (slope - reference_slope) / sd if sd > 0 else np.full_like(slope, math.nan)
    threshold = reference_threshold(reference_slope, sd, percentile)
    # per-subject values as arrays: a pandas lookup and a scipy call per subject cost 0.3 s of
    # the group step at 1,000 subjects
    info = subjects.loc[list(fit.subjects)]
    groups, n_sessions = info["group"].to_numpy(), info["n_sessions"].to_numpy()
    followup, two_stage = info["followup_years"].to_numpy(), info["two_stage_rate_pct_per_year"].to_numpy()
    rate, low, high = pct(slope), pct(slope - quantile * se), pct(slope + quantile * se)
    percentile_vs_reference = 100 * stats.norm.cdf(z)
    rows = []
    for k, participant in enumerate(fit.subjects):
        rows.append(
            {
                "participant_id": participant,
                "region": region,
                "group": groups[k],
                "n_sessions": int(n_sessions[k]),
                "followup_years": float(followup[k]),
                "rate_pct_per_year": float(rate[k]),
                "ci_low": float(low[k]),
                "ci_high": float(high[k]),
                "two_stage_rate_pct_per_year": float(two_stage[k]),
                "z_vs_reference": float(z[k]),
                "percentile_vs_reference": float(percentile_vs_reference[k]),
                # the whole interval loses volume faster than the reference group's threshold
                "exceeds_reference": bool(sd > 0 and high[k] < pct(threshold)),
                "cutoff_pct_per_year": math.nan if cutoff is None else float(cutoff),
                "beyond_cutoff": None if cutoff is None else bool(rate[k] < cutoff),
                "slope": float(slope[k]),
                "slope_se": float(se[k]),
                "model": fit.structure,
            }
        )
    return rows


def subject_summary(data: pd.DataFrame, two_stage: pd.DataFrame) -> pd.DataFrame:
    """Per subject of one region's model data: group, sessions, follow-up, two-stage rate."""
    summary = data.groupby("participant_id").agg(
        group=("group", "first"), n_sessions=("years", "size"), first=("years", "min"), last=("years", "max")
    )
    # max − min, not np.ptp: pandas runs a NumPy function group by group in Python
    summary = summary.assign(followup_years=summary["last"] - summary["first"]).drop(
        columns=["first", "last"]
    )
    rates = two_stage.set_index("participant_id")["rate_pct_per_year"]
    return summary.assign(two_stage_rate_pct_per_year=rates.reindex(summary.index).to_numpy())
