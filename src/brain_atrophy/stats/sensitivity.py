"""The sensitivity table: every contrast by the mixed model beside the two-stage analyses
(Welch's t-test and an ANCOVA on the subjects' own rates) and, when the model adjusted for
scanner steps, beside the same model without them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import twostage


def sensitivity_rows(pairs, subject_rates, participants, covariates: pd.DataFrame, settings):
    """Mixed-model and two-stage estimates of every contrast, side by side."""
    rows = []
    for pair in pairs:
        region, group, versus = pair["region"], pair["group"], pair["versus"]
        rates = subject_rates[subject_rates["region"] == region].dropna(subset=["rate_pct_per_year"])
        rates = rates.set_index("participant_id")
        group_of = participants["group"].reindex(rates.index)
        rate = rates["rate_pct_per_year"]
        welch = twostage.welch(rate[group_of == versus], rate[group_of == group], settings.level)
        ancova = twostage.ancova(
            rates["rate_pct_per_year"],
            group_of,
            covariates.reindex(rates.index),
            versus,
            group,
            settings.level,
        )
        rows.append(
            {
                "region": region,
                "group": group,
                "versus": versus,
                "mixed_difference_pct_per_year": pair.get("difference_pct_per_year", np.nan),
                "mixed_ci_low": pair.get("ci_low", np.nan),
                "mixed_ci_high": pair.get("ci_high", np.nan),
                "mixed_p_value": pair.get("p_value", np.nan),
                "welch_difference_pct_per_year": welch["difference"],
                "welch_ci_low": welch["ci_low"],
                "welch_ci_high": welch["ci_high"],
                "welch_p_value": welch["p_value"],
                "ancova_difference_pct_per_year": ancova["difference"],
                "ancova_ci_low": ancova["ci_low"],
                "ancova_ci_high": ancova["ci_high"],
                "ancova_p_value": ancova["p_value"],
                "ancova_covariates": " ".join(covariates.columns),
                "n_two_stage_subjects": int(group_of.isin([group, versus]).sum()),
            }
        )
    return rows


def with_unadjusted(sensitivity: pd.DataFrame, rates: pd.DataFrame, unadjusted: list) -> pd.DataFrame:
    """The sensitivity table with each contrast's and each group's rate also from the model
    without scanner steps, side by side."""
    plain_rates = pd.DataFrame([r for _, region_rates, _ in unadjusted for r in region_rates])
    plain_pairs = pd.DataFrame([p for _, _, region_pairs in unadjusted for p in region_pairs])
    rate = rates.set_index(["region", "group"])["rate_pct_per_year"]
    plain_rate = plain_rates.set_index(["region", "group"])["rate_pct_per_year"]
    plain = plain_pairs.set_index(["region", "group", "versus"])
    key = pd.MultiIndex.from_frame(sensitivity[["region", "group", "versus"]])
    group_key = pd.MultiIndex.from_frame(sensitivity[["region", "group"]])
    versus_key = pd.MultiIndex.from_frame(sensitivity[["region", "versus"]])
    return sensitivity.assign(
        group_rate_pct_per_year=rate.reindex(group_key).to_numpy(),
        unadjusted_group_rate_pct_per_year=plain_rate.reindex(group_key).to_numpy(),
        versus_rate_pct_per_year=rate.reindex(versus_key).to_numpy(),
        unadjusted_versus_rate_pct_per_year=plain_rate.reindex(versus_key).to_numpy(),
        unadjusted_difference_pct_per_year=plain["difference_pct_per_year"].reindex(key).to_numpy(),
        unadjusted_ci_low=plain["ci_low"].reindex(key).to_numpy(),
        unadjusted_ci_high=plain["ci_high"].reindex(key).to_numpy(),
        unadjusted_p_value=plain["p_value"].reindex(key).to_numpy(),
    )
