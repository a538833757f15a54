"""Agreement with R lme4/lmerTest: the acceptance bar is 0.005 %/yr on every rate and difference."""

import numpy as np
import pandas as pd
import pytest
from helpers import TOLERANCE_PCT, compare_with_lmer

from brain_atrophy.stats import mixed, scanner
from brain_atrophy.stats.cohort import apply_window
from brain_atrophy.stats.group import Settings, design, model_rates, pct
from brain_atrophy_demo.simulate import add_scanner_upgrade, simulate_volumes


def write_inputs(tmp_path, volumes, participants):
    volumes_tsv, participants_tsv = tmp_path / "volumes.tsv", tmp_path / "participants.tsv"
    volumes.to_csv(volumes_tsv, sep="\t", index=False, float_format="%.17g")
    participants.to_csv(participants_tsv, sep="\t", float_format="%.17g")
    return volumes_tsv, participants_tsv


@pytest.mark.r
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("covariates", [[], ["age", "sex"]])
def test_mixed_model_agrees_with_lme4(tmp_path, lmer, seed, covariates):
    volumes, participants = simulate_volumes(seed)
    paths = write_inputs(tmp_path, volumes, participants)
    tables = model_rates(volumes, participants, ["brain"], Settings("HC", covariates=tuple(covariates)))
    rates, differences = tables["rates_by_group"], tables["group_differences"]
    assert rates["converged"].all()
    compare_with_lmer(rates, differences, lmer(*paths, "HC", covariates, tmp_path / "r.tsv"))


@pytest.mark.r
def test_covariate_interacting_with_time_agrees_with_lme4(tmp_path, lmer):
    volumes, participants = simulate_volumes(11)
    paths = write_inputs(tmp_path, volumes, participants)
    settings = Settings("HC", covariates=("sex",), slope_covariates=("age",))
    tables = model_rates(volumes, participants, ["brain"], settings)
    reference = lmer(*paths, "HC", ["sex"], tmp_path / "r.tsv", slope=["age"])
    compare_with_lmer(tables["rates_by_group"], tables["group_differences"], reference)


@pytest.mark.r
@pytest.mark.parametrize("rebaseline", [False, True])
def test_analysis_window_agrees_with_lme4(tmp_path, lmer, rebaseline):
    volumes, participants = simulate_volumes(12)
    windowed = apply_window(volumes, 20, None, rebaseline)
    weeks = volumes["years"] * 365.25 / 7
    assert len(windowed) == int((weeks >= 20).sum()) and len(windowed) < len(volumes)
    first = windowed.groupby("participant_id")["years"].min()
    if rebaseline:
        assert (first == 0).all()
    else:
        assert (first * 365.25 / 7 >= 20 - 1e-9).all()
    paths = write_inputs(tmp_path, windowed, participants)
    tables = model_rates(windowed, participants, ["brain"], Settings("HC"))
    compare_with_lmer(
        tables["rates_by_group"], tables["group_differences"], lmer(*paths, "HC", [], tmp_path / "r.tsv")
    )


@pytest.mark.r
@pytest.mark.parametrize("structure", ["uncorrelated", "intercept"])
def test_fallback_structures_agree_with_lme4(tmp_path, lmer, structure):
    volumes, participants = simulate_volumes(13)
    paths = write_inputs(tmp_path, volumes, participants)
    data = volumes.assign(group=volumes["participant_id"].map(participants["group"]))
    groups = ["HC", "IFN", "OCR"]
    X, names = design(data, groups, pd.DataFrame(index=participants.index))
    y = 100 * np.log(data["volume_mm3"].to_numpy())
    fit = mixed.fit(y, X, data["years"].to_numpy(), data["participant_id"].to_numpy(), names, structure)
    assert fit.converged and fit.structure == structure
    reference = lmer(*paths, "HC", [], tmp_path / "r.tsv", structure=structure)
    for g in groups:
        r = reference[(reference.kind == "slope") & (reference.term == g)].iloc[0]
        c = np.zeros(len(names))
        c[names.index(f"group[{g}]:years")] = 1
        est = fit.contrast(c)
        assert abs(pct(est["estimate"]) - pct(r.estimate)) < TOLERANCE_PCT
        assert est["se"] == pytest.approx(r.se, rel=1e-3)
        assert est["df"] == pytest.approx(r.df, rel=0.02)


def compare_steps(effects, reference):
    """Each scanner step (100·ln scale) to 0.005 and its p-value to 1e-3, against lmerTest."""
    assert len(effects) > 0
    for _, row in effects.iterrows():
        r = reference[(reference.kind == "scanner") & (reference.term == row["scanner"])].iloc[0]
        assert abs(row["step"] - r.estimate) < TOLERANCE_PCT
        assert row["step_se"] == pytest.approx(r.se, rel=1e-3)
        assert abs(row["p_value"] - r.p) < 1e-3


@pytest.mark.r
@pytest.mark.parametrize(
    "covariates, slope_covariates, window_weeks",
    [((), (), 0), (("sex",), ("age",), 0), ((), (), 20)],
    ids=["plain", "covariates-on-intercept-and-slope", "window"],
)
def test_scanner_step_agrees_with_lme4(tmp_path, lmer, covariates, slope_covariates, window_weeks):
    volumes, participants = simulate_volumes(21)
    volumes = apply_window(add_scanner_upgrade(volumes, 21), window_weeks, None, False)
    paths = write_inputs(tmp_path, volumes, participants)
    settings = Settings("HC", covariates=covariates, slope_covariates=slope_covariates)
    tables = model_rates(volumes, participants, ["brain"], settings)
    decision = tables["description"]["scanner_adjustment"]
    assert decision["adjusted"], decision["reason"]
    reference = lmer(
        *paths, "HC", list(covariates), tmp_path / "r.tsv", slope=list(slope_covariates),
        reference_scanner=decision["reference_scanner"],
    )  # fmt: skip
    compare_with_lmer(tables["rates_by_group"], tables["group_differences"], reference)
    compare_steps(tables["scanner_effects"], reference)


@pytest.mark.r
@pytest.mark.parametrize("structure", ["uncorrelated", "intercept"])
def test_scanner_step_in_fallback_structures_agrees_with_lme4(tmp_path, lmer, structure):
    volumes, participants = simulate_volumes(22)
    volumes = add_scanner_upgrade(volumes, 22)
    paths = write_inputs(tmp_path, volumes, participants)
    data = volumes.assign(group=volumes["participant_id"].map(participants["group"]))
    X, names = design(data, ["HC", "IFN", "OCR"], pd.DataFrame(index=participants.index), (), ["Skyra XA30"])
    y = 100 * np.log(data["volume_mm3"].to_numpy())
    fit = mixed.fit(y, X, data["years"].to_numpy(), data["participant_id"].to_numpy(), names, structure)
    assert fit.converged and fit.structure == structure
    decision = scanner.Decision(
        "true", True, "test", "Skyra E11", ("Skyra XA30",), {"Skyra XA30": {"n_subjects_spanning": 0}}
    )
    effects = pd.DataFrame(scanner.step_rows(fit, "brain", decision, 0.95))
    reference = lmer(*paths, "HC", [], tmp_path / "r.tsv", structure=structure, reference_scanner="Skyra E11")
    compare_steps(effects, reference)
