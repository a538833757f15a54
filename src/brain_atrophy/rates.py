"""Per-subject (two-stage) rates: OLS of ln(volume) on years."""

from __future__ import annotations

import math

import numpy as np


def log_slope(years, volumes) -> float:
    """OLS slope of ln(volume) on years (fraction per year); NaN with fewer than two time points."""
    t = np.asarray(years, dtype=float)
    y = np.log(np.asarray(volumes, dtype=float))
    if t.size < 2 or np.ptp(t) == 0:
        return math.nan
    t_centred = t - t.mean()
    return float(np.dot(t_centred, y - y.mean()) / np.dot(t_centred, t_centred))


def percent_per_year(slope: float) -> float:
    """An annual log slope b as percent change per year: 100·(exp(b) − 1)."""
    return 100.0 * math.expm1(slope)


def subject_rate(years, volumes) -> dict[str, float]:
    """The two-stage summary of one subject's region: sessions, follow-up, baseline, rate."""
    t = np.asarray(years, dtype=float)
    v = np.asarray(volumes, dtype=float)
    order = np.argsort(t, kind="stable")
    usable = v[order] > 0  # ln(0) is undefined: an absent region cannot give a rate
    t, v = t[order][usable], v[order][usable]
    if t.size == 0:
        return {
            "n_sessions": 0,
            "followup_years": math.nan,
            "baseline_volume_mm3": math.nan,
            "rate_pct_per_year": math.nan,
        }
    slope = log_slope(t, v)
    return {
        "n_sessions": int(t.size),
        "followup_years": float(t[-1] - t[0]),
        "baseline_volume_mm3": float(v[0]),
        "rate_pct_per_year": percent_per_year(slope) if not math.isnan(slope) else math.nan,
    }
