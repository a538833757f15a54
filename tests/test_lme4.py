"""Agreement with R lme4/lmerTest: the acceptance bar is 0.005 %/yr on every rate and difference."""

import pytest
from simulate import simulate_volumes

from brain_atrophy.group import model_rates, pct

TOLERANCE_PCT = 0.005


def compare_with_lmer(rates, differences, reference):
    for _, row in rates.iterrows():
        r = reference[
            (reference.kind == "slope")
            & (reference.term == row["group"])
            & (reference.region == row["region"])
        ]
        assert len(r) == 1
        r = r.iloc[0]
        assert abs(row["rate_pct_per_year"] - pct(r.estimate)) < TOLERANCE_PCT
        assert row["slope_se"] == pytest.approx(r.se, rel=1e-3)
        assert row["df"] == pytest.approx(r.df, rel=0.02)
    for _, row in differences.iterrows():
        r = reference[
            (reference.kind == "difference")
            & (reference.term == row["group"])
            & (reference.region == row["region"])
        ].iloc[0]
        assert abs(row["slope_difference"] - r.estimate) < TOLERANCE_PCT
        assert row["slope_difference_se"] == pytest.approx(r.se, rel=1e-3)
        assert row["p_value"] == pytest.approx(r.p, rel=0.02, abs=1e-4)


@pytest.mark.r
@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("covariates", [[], ["age", "sex"]])
def test_mixed_model_agrees_with_lme4(tmp_path, lmer, seed, covariates):
    volumes, participants = simulate_volumes(seed)
    volumes_tsv, participants_tsv = tmp_path / "volumes.tsv", tmp_path / "participants.tsv"
    volumes.to_csv(volumes_tsv, sep="\t", index=False, float_format="%.17g")
    participants.to_csv(participants_tsv, sep="\t", float_format="%.17g")
    rates, differences = model_rates(volumes, participants, ["brain"], "HC", covariates, 0.95)
    assert rates["converged"].all()
    compare_with_lmer(
        rates, differences, lmer(volumes_tsv, participants_tsv, "HC", covariates, tmp_path / "r.tsv")
    )
