"""Group contrasts from a fitted model, and their multiplicity corrections."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from .rates import pct


def pair_difference(fit, names, group, versus, level):
    """Rate difference group − versus with a delta-method CI; the test is on the slopes."""
    i, j = names.index(f"group[{group}]:years"), names.index(f"group[{versus}]:years")
    c = np.zeros(len(names))
    c[i], c[j] = 1.0, -1.0
    est = fit.contrast(c, level)
    gradient = np.zeros(len(names))
    gradient[i], gradient[j] = math.exp(fit.beta[i] / 100.0), -math.exp(fit.beta[j] / 100.0)
    se = math.sqrt(float(gradient @ fit.cov_beta @ gradient))
    quantile = float(stats.t.ppf(0.5 + level / 2, est["df"]))
    difference = pct(fit.beta[i]) - pct(fit.beta[j])
    return {
        "difference_pct_per_year": difference,
        "ci_low": difference - quantile * se,
        "ci_high": difference + quantile * se,
        "p_value": est["p_value"],
        # difference in slopes over the SD of the subjects' random slopes
        "effect_size": est["estimate"] / fit.slope_sd if fit.slope_sd > 0 else math.nan,
        "slope_difference": est["estimate"],
        "slope_difference_se": est["se"],
        "df": est["df"],
        "converged": fit.converged,
        "model": fit.structure,
    }


def adjust_fdr(differences: pd.DataFrame) -> pd.Series:
    """Benjamini–Hochberg across regions, separately for each contrast (group vs reference)."""
    adjusted = pd.Series(np.nan, index=differences.index)
    for _, rows in differences.groupby("group"):
        valid = rows["p_value"].notna()
        if valid.any():
            adjusted[rows.index[valid]] = multipletests(rows.loc[valid, "p_value"], method="fdr_bh")[1]
    return adjusted


def adjust_all(p_values: pd.Series, method: str) -> pd.Series:
    """One correction across every region and contrast (Benjamini–Hochberg or Holm)."""
    adjusted = pd.Series(np.nan, index=p_values.index)
    valid = p_values.notna()
    if valid.any():
        adjusted[valid] = multipletests(p_values[valid], method=method)[1]
    return adjusted
