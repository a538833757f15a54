"""The group statistics (brain_atrophy.stats.group) and their options: all contrasts, corrections,
effect sizes, the two-stage sensitivity analysis, the random-effects fallback and the
sample-size formula (checked by simulation)."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from brain_atrophy.stats import mixed, power
from brain_atrophy.stats.group import Settings, design, model_rates
from brain_atrophy_demo.simulate import simulate_volumes


@pytest.fixture(scope="module")
def three_regions():
    volumes, participants = simulate_volumes(21, n_per_group=(30, 30, 20))
    regions = [
        volumes.assign(region=f"r{k}", volume_mm3=volumes["volume_mm3"] * (1 + k / 7)) for k in range(3)
    ]
    return pd.concat(regions, ignore_index=True), participants


def test_every_pair_of_groups_is_compared(three_regions):
    volumes, participants = three_regions
    tables = model_rates(volumes, participants, ["r0", "r1", "r2"], Settings("HC"))
    pairwise = tables["pairwise_differences"]
    assert len(pairwise) == 3 * 3  # 3 regions × 3 pairs
    assert set(zip(pairwise["group"], pairwise["versus"], strict=True)) == {
        ("IFN", "HC"),
        ("OCR", "HC"),
        ("OCR", "IFN"),
    }
    # the reference contrasts of the contract table are the same numbers
    vs_reference = pairwise[pairwise["versus"] == "HC"].reset_index(drop=True)
    differences = tables["group_differences"]
    np.testing.assert_allclose(
        differences["difference_pct_per_year"], vs_reference["difference_pct_per_year"]
    )
    # effect size: the slope difference in units of the random-slope SD
    slope_sd = {r: d["slope_sd"] for r, d in tables["description"]["regions"].items()}
    expected = pairwise["slope_difference"] / pairwise["region"].map(slope_sd)
    np.testing.assert_allclose(pairwise["effect_size"], expected)


def test_holm_is_at_least_as_strict_as_benjamini_hochberg(three_regions):
    volumes, participants = three_regions
    bh = model_rates(volumes, participants, ["r0", "r1", "r2"], Settings("HC"))["pairwise_differences"]
    holm = model_rates(volumes, participants, ["r0", "r1", "r2"], Settings("HC", correction="holm"))
    holm = holm["pairwise_differences"]
    assert (holm["correction"] == "holm").all() and (bh["correction"] == "fdr_bh").all()
    assert (holm["p_adjusted"] >= bh["p_adjusted"] - 1e-12).all()
    assert (bh["p_adjusted"] >= bh["p_value"] - 1e-12).all()
    assert (holm["p_adjusted"] > bh["p_adjusted"] + 1e-9).any()


def test_sensitivity_table_holds_the_two_stage_estimates(three_regions):
    volumes, participants = three_regions
    tables = model_rates(volumes, participants, ["r0"], Settings("HC"))
    sensitivity = tables["sensitivity"]
    rates = tables["subject_rates"].dropna(subset=["rate_pct_per_year"])
    rates = rates[rates["region"] == "r0"]
    assert len(sensitivity) == 3
    for _, row in sensitivity.iterrows():
        a = rates.loc[rates["group"] == row["versus"], "rate_pct_per_year"]
        b = rates.loc[rates["group"] == row["group"], "rate_pct_per_year"]
        welch = stats.ttest_ind(b, a, equal_var=False)
        assert row["welch_difference_pct_per_year"] == pytest.approx(b.mean() - a.mean())
        assert row["welch_p_value"] == pytest.approx(welch.pvalue)
        # without covariates the ANCOVA is a regression on the group alone: the same difference
        assert row["ancova_difference_pct_per_year"] == pytest.approx(b.mean() - a.mean())
        # both analyses estimate the same planted differences
        assert abs(row["welch_difference_pct_per_year"] - row["mixed_difference_pct_per_year"]) < 0.1


def test_ancova_adjusts_for_the_configured_covariates(three_regions):
    volumes, participants = three_regions
    tables = model_rates(volumes, participants, ["r0"], Settings("HC", covariates=("age", "sex")))
    sensitivity = tables["sensitivity"]
    assert (sensitivity["ancova_covariates"] == "age sex[M]").all()
    rates = tables["subject_rates"].dropna(subset=["rate_pct_per_year"])
    rates = rates[rates["region"] == "r0"].set_index("participant_id")
    data = rates.join(participants[["age", "sex"]])
    pair = data[data["group"].isin(["HC", "OCR"])]
    X = np.column_stack([np.ones(len(pair)), pair["group"] == "OCR", pair["age"], pair["sex"] == "M"]).astype(
        float
    )
    coefficients = np.linalg.lstsq(X, pair["rate_pct_per_year"].to_numpy(), rcond=None)[0]
    row = sensitivity[(sensitivity["group"] == "OCR") & (sensitivity["versus"] == "HC")].iloc[0]
    assert row["ancova_difference_pct_per_year"] == pytest.approx(coefficients[1])


def test_singular_fit_falls_back_and_says_so():
    volumes, participants = simulate_volumes(31, n_per_group=(20, 20, 20), slope_sd=0.0, noise_sd=0.4)
    data = volumes.assign(group=volumes["participant_id"].map(participants["group"]))
    X, names = design(data, ["HC", "IFN", "OCR"], pd.DataFrame(index=participants.index))
    y = 100 * np.log(data["volume_mm3"].to_numpy())
    args = (y, X, data["years"].to_numpy(), data["participant_id"].to_numpy(), names)
    assert mixed.fit(*args).singular  # no slope variance planted: the unstructured fit is on the boundary
    fallback = mixed.fit_with_fallback(*args)
    assert fallback.structure in ("uncorrelated", "intercept")
    assert fallback.converged and not fallback.singular


def test_window_and_structure_are_written_into_the_description(three_regions):
    volumes, participants = three_regions
    settings = Settings("HC", window_start_weeks=24, rebaseline=True)
    description = model_rates(volumes, participants, ["r0"], settings)["description"]
    window = description["window"]
    assert (window["start_weeks"], window["end_weeks"], window["rebaseline"]) == (24, None, True)
    assert window["groups"] == description["groups"]  # no window.groups: it applies to every group
    assert description["regions"]["r0"]["model"] in mixed.STRUCTURES


def test_power_table_for_every_region_and_reduction(three_regions):
    volumes, participants = three_regions
    table = model_rates(volumes, participants, ["r0", "r1", "r2"], Settings("HC"))["power"]
    assert len(table) == 3 * 2 * 2  # regions × non-reference groups × default reductions
    halves = table[table["reduction"] == 0.5].set_index(["region", "group"])["n_per_arm"]
    quarters = table[table["reduction"] == 0.25].set_index(["region", "group"])["n_per_arm"]
    # a quarter of the effect needs four times the subjects (up to rounding up)
    assert ((4 * (halves - 1) < quarters) & (quarters <= 4 * halves + 1)).all()


def test_sample_size_formula_matches_simulated_power():
    slope_sd, residual_sd, difference, alpha = 0.15, 0.3, 0.1, 0.05
    schedule = np.array([0, 24, 48, 96]) / (365.25 / 7)
    n = power.subjects_per_arm(difference, slope_sd, residual_sd, schedule, alpha, 0.8)
    assert power.power_of(n, difference, slope_sd, residual_sd, schedule, alpha) >= 0.8
    assert power.power_of(n - 1, difference, slope_sd, residual_sd, schedule, alpha) < 0.8
    # simulate trials: each subject's volumes at the schedule, its OLS slope, a two-sample t-test
    rng = np.random.default_rng(7)
    trials = 4000
    centred = schedule - schedule.mean()

    def arm_slopes(mean):
        slopes = rng.normal(mean, slope_sd, (trials, n))
        y = slopes[..., None] * schedule + rng.normal(0, residual_sd, (trials, n, schedule.size))
        return (y * centred).sum(axis=-1) / (centred**2).sum()

    control, treated = arm_slopes(-0.5), arm_slopes(-0.5 + difference)
    p_values = stats.ttest_ind(treated, control, axis=1).pvalue
    simulated = float(np.mean(p_values < alpha))
    expected = power.power_of(n, difference, slope_sd, residual_sd, schedule, alpha)
    assert abs(simulated - expected) < 0.03, (simulated, expected, n)


def test_a_region_absent_everywhere_is_reported_not_modelled(three_regions):
    volumes, participants = three_regions
    absent = volumes[volumes["region"] == "r0"].assign(region="absent", volume_mm3=0.0, n_voxels=0)
    tables = model_rates(pd.concat([volumes, absent]), participants, ["r0", "absent"], Settings("HC"))
    rates = tables["rates_by_group"].set_index(["region", "group"])
    assert rates.loc[("r0", "HC"), "converged"]
    assert (rates.loc["absent", "model"] == "not fitted").all() and rates.loc[
        "absent", "rate_pct_per_year"
    ].isna().all()
    assert "absent from every image" in tables["description"]["regions_not_modelled"]["absent"]
    assert len(tables["power"]) == 2 * 2  # only the modelled region
