"""Each subject's own rate from the model: agreement with lme4 and what the columns mean."""

import subprocess

import numpy as np
import pandas as pd
import pytest
from conftest import REPO
from scipy import stats

from brain_atrophy.stats.group import Settings, model_rates, pct
from brain_atrophy.stats.subject_effects import reference_threshold
from brain_atrophy_demo.simulate import simulate_volumes


def lmer_subjects(tmp_path, volumes, participants):
    paths = tmp_path / "volumes.tsv", tmp_path / "participants.tsv", tmp_path / "r.tsv"
    volumes.to_csv(paths[0], sep="\t", index=False, float_format="%.17g")
    participants.to_csv(paths[1], sep="\t", float_format="%.17g")
    subprocess.run(
        [
            "Rscript",
            str(REPO / "tests" / "R" / "lmer_subjects.R"),
            str(paths[0]),
            str(paths[1]),
            "HC",
            str(paths[2]),
        ],
        check=True,
        capture_output=True,
    )
    return pd.read_csv(paths[2], sep="\t").set_index("participant_id")


@pytest.mark.r
@pytest.mark.parametrize("seed", [5, 6])
def test_subject_rates_and_intervals_agree_with_lme4(tmp_path, lmer, seed):
    volumes, participants = simulate_volumes(seed, n_per_group=(20, 20, 20))
    effects = model_rates(volumes, participants, ["brain"], Settings("HC"))["subject_effects"]
    reference = lmer_subjects(tmp_path, volumes, participants)
    merged = effects.set_index("participant_id").join(reference.add_suffix("_r"))
    assert len(merged) == len(reference) == volumes["participant_id"].nunique()
    assert (merged["rate_pct_per_year"] - pct_array(merged["slope_r"])).abs().max() < 0.005
    r_half = stats.norm.ppf(0.975) * np.sqrt(merged["conditional_variance_r"] + merged["fixed_variance_r"])
    half = stats.norm.ppf(0.975) * merged["slope_se"]
    assert ((half / r_half) - 1).abs().max() < 0.05


def pct_array(slopes):
    return np.array([pct(s) for s in slopes])


def test_single_visit_subjects_get_honestly_wide_intervals():
    volumes, participants = simulate_volumes(7, n_per_group=(20, 20, 20), drop=0.0)
    single = volumes["participant_id"].isin(["sub-HC000", "sub-OCR003"])
    volumes = volumes[~single | (volumes["years"] == 0)]
    tables = model_rates(volumes, participants, ["brain"], Settings("HC"))
    effects = tables["subject_effects"].set_index("participant_id")
    assert effects.loc["sub-HC000", "n_sessions"] == 1
    assert np.isnan(effects.loc["sub-HC000", "two_stage_rate_pct_per_year"])
    width = effects["ci_high"] - effects["ci_low"]
    # one scan says nothing about a slope: the interval is the population's spread
    assert width["sub-HC000"] > width.drop(["sub-HC000", "sub-OCR003"]).max()
    assert effects.loc["sub-HC000", "slope_se"] >= 0.9 * tables["description"]["regions"]["brain"]["slope_sd"]


def test_reference_columns_and_cutoffs():
    volumes, participants = simulate_volumes(8, n_per_group=(20, 20, 20))
    settings = Settings("HC", reference_percentile=90.0, cutoffs={"brain": -0.4})
    tables = model_rates(volumes, participants, ["brain"], settings)
    effects = tables["subject_effects"]
    hc = tables["rates_by_group"].set_index("group").loc["HC"]
    sd = tables["description"]["regions"]["brain"]["slope_sd"]
    z = (effects["slope"] - hc["slope"]) / sd
    assert np.allclose(effects["z_vs_reference"], z)
    assert np.allclose(effects["percentile_vs_reference"], 100 * stats.norm.cdf(z))
    threshold = pct(reference_threshold(hc["slope"], sd, 90.0))
    assert (effects["exceeds_reference"] == (effects["ci_high"] < threshold)).all()
    assert effects["exceeds_reference"].any() and not effects["exceeds_reference"].all()
    assert (effects["beyond_cutoff"] == (effects["rate_pct_per_year"] < -0.4)).all()
    assert (effects["cutoff_pct_per_year"] == -0.4).all()
    none = model_rates(volumes, participants, ["brain"], Settings("HC"))["subject_effects"]
    assert none["beyond_cutoff"].isna().all() and none["cutoff_pct_per_year"].isna().all()
