"""Two-stage analysis: every subject's own rate, then a test across subjects (the sensitivity
analysis beside the mixed model: Welch's t-test and an ANCOVA on the subjects' rates)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .rates import log100_slopes, pct


def subject_rates(volumes: pd.DataFrame, outcome: str = "volume_mm3") -> pd.DataFrame:
    """Per subject and region: sessions, follow-up, baseline volume and the least-squares rate
    of ln(outcome) on years as %/yr (n/a with fewer than two distinct times), vectorized."""
    keys = ["participant_id", "region"]
    data = volumes[volumes[outcome] > 0]
    grouped = data.groupby(keys, sort=False)
    first = data.sort_values("years", kind="stable").groupby(keys, sort=False).first()
    summary = grouped.agg(
        n_sessions=("years", "size"), first_year=("years", "min"), last_year=("years", "max")
    )
    return pd.DataFrame(
        {
            "n_sessions": summary["n_sessions"],
            "followup_years": summary["last_year"] - summary["first_year"],
            "baseline_volume_mm3": first["volume_mm3"],
            "rate_pct_per_year": pct(log100_slopes(data, keys, outcome).reindex(summary.index)),
        }
    ).reset_index()


def welch(rates_a, rates_b, level: float) -> dict:
    """Difference of means b − a, Welch CI and p-value."""
    a, b = np.asarray(rates_a, float), np.asarray(rates_b, float)
    if a.size < 2 or b.size < 2:
        return {"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
    se = np.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (a.size - 1) + vb**2 / (b.size - 1))
    difference = b.mean() - a.mean()
    quantile = stats.t.ppf(0.5 + level / 2, df)
    return {
        "difference": difference,
        "ci_low": difference - quantile * se,
        "ci_high": difference + quantile * se,
        "p_value": float(stats.ttest_ind(b, a, equal_var=False).pvalue),
    }


def ancova(
    rates: pd.Series, groups: pd.Series, covariates: pd.DataFrame, group_a: str, group_b: str, level: float
):
    """OLS of the subjects' rates on group (treatment-coded against ``group_a``) and covariates;
    the coefficient of ``group_b`` with its CI and p-value."""
    if rates.empty:
        return {"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    data = pd.concat([rates.rename("rate"), groups.rename("group"), covariates], axis=1).dropna()
    data = data[data["group"].isin([group_a, group_b])]
    if data["group"].nunique() < 2 or len(data) <= 2 + covariates.shape[1]:
        return {"difference": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_value": np.nan}
    X = pd.concat(
        [(data["group"] == group_b).astype(float).rename("group_b"), data[covariates.columns]], axis=1
    )
    result = sm.OLS(data["rate"].astype(float), sm.add_constant(X, has_constant="add")).fit()
    low, high = result.conf_int(alpha=1 - level).loc["group_b"]
    return {
        "difference": float(result.params["group_b"]),
        "ci_low": float(low),
        "ci_high": float(high),
        "p_value": float(result.pvalues["group_b"]),
    }
