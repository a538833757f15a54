"""Subjects per arm for a trial on atrophy rates, from fitted variance components.

With a visit schedule t₁…t_K (years) the least-squares slope of one subject has variance
V = σ_b² + σ² / Σ(t_k − t̄)²  (σ_b: SD of the random slopes, σ: residual SD), and for a
balanced design the mixed model's arm mean slope is the average of those slopes. Detecting a
difference Δ between two arms' mean slopes with a two-sided test at level α and power 1 − β
needs, per arm,

    n = 2 · V · (z₁₋α/₂ + z₁₋β)² / Δ²   (rounded up)

(the normal approximation; e.g. Frost et al. 2008, Stat Med 27:3717, for atrophy trials).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ..inputs.times import WEEKS_PER_YEAR
from .rates import pct


def slope_variance(slope_sd: float, residual_sd: float, schedule_years) -> float:
    """Variance of one subject's OLS slope under the schedule."""
    t = np.asarray(schedule_years, dtype=float)
    spread = float(np.sum((t - t.mean()) ** 2))
    return slope_sd**2 + residual_sd**2 / spread


def subjects_per_arm(
    difference: float, slope_sd: float, residual_sd: float, schedule_years, alpha=0.05, power=0.8
):
    """Subjects per arm to detect ``difference`` in mean slopes (same units as the SDs)."""
    if difference == 0 or not math.isfinite(difference):
        return math.nan
    z = stats.norm.ppf(1 - alpha / 2) + stats.norm.ppf(power)
    n = 2 * slope_variance(slope_sd, residual_sd, schedule_years) * z**2 / difference**2
    return math.ceil(n)


def power_of(
    n_per_arm: int, difference: float, slope_sd: float, residual_sd: float, schedule_years, alpha=0.05
):
    """The power the formula gives for ``n_per_arm`` subjects (the inverse of subjects_per_arm)."""
    se = math.sqrt(2 * slope_variance(slope_sd, residual_sd, schedule_years) / n_per_arm)
    return float(stats.norm.cdf(abs(difference) / se - stats.norm.ppf(1 - alpha / 2)))


POWER_COLUMNS = [
    "region", "group", "reference_group", "reduction", "excess_pct_per_year",
    "detectable_difference_pct_per_year", "slope_sd", "residual_sd", "schedule_weeks", "alpha", "power",
    "n_per_arm", "model",
]  # fmt: skip


def power_rows(region, fit, groups, rates, settings) -> list[dict]:
    """Subjects per arm to detect each stated reduction of every group's excess rate over the
    reference group, from this region's variance components."""
    schedule = np.asarray(settings.power_schedule_weeks, float) / WEEKS_PER_YEAR
    slope = {r["group"]: r["slope"] for r in rates}
    rows = []
    for g in groups[1:]:
        excess = slope[g] - slope[groups[0]]
        for reduction in settings.power_reductions:
            difference = reduction * excess
            rows.append(
                {
                    "region": region,
                    "group": g,
                    "reference_group": groups[0],
                    "reduction": reduction,
                    "excess_pct_per_year": pct(slope[g]) - pct(slope[groups[0]]),
                    "detectable_difference_pct_per_year": pct(slope[g]) - pct(slope[g] - difference),
                    "slope_sd": fit.slope_sd,
                    "residual_sd": fit.sigma,
                    "schedule_weeks": " ".join(f"{w:g}" for w in settings.power_schedule_weeks),
                    "alpha": settings.power_alpha,
                    "power": settings.power_target,
                    "n_per_arm": subjects_per_arm(
                        difference,
                        fit.slope_sd,
                        fit.sigma,
                        schedule,
                        settings.power_alpha,
                        settings.power_target,
                    ),
                    "model": fit.structure,
                }
            )
    return rows
