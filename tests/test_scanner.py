"""When a scanner step can be modelled, and the step's estimate, on simulated cohorts."""

import numpy as np
import pandas as pd
import pytest

from brain_atrophy.stats import scanner
from brain_atrophy.stats.group import Settings, model_rates
from brain_atrophy_demo.simulate import GROUP_RATES, add_scanner_upgrade, simulate_volumes


def sessions(rows):
    return pd.DataFrame(rows, columns=["participant_id", "session_id", "group", "years", "scanner"])


def two_groups(spanning: int, confounded: bool = False):
    """Subjects a0.. in group A and b0.. in group B, scanned at 0 and 1 year; ``spanning`` of
    them per group move from scanner 'old' to 'new' (or group B is all on 'new')."""
    rows = []
    for group in ("A", "B"):
        for k in range(8):
            for years in (0.0, 1.0):
                if confounded:
                    on = "old" if group == "A" else "new"
                else:
                    on = "new" if (k < spanning and years > 0) or k >= 6 else "old"
                rows.append((f"sub-{group.lower()}{k}", f"ses-{years:g}", group, years, on))
    return sessions(rows)


def test_one_acquisition_is_not_adjusted():
    decision = scanner.decide(two_groups(0).assign(scanner="only"), ["A", "B"])
    assert not decision.adjusted and decision.reason == "one acquisition (only)"
    assert not decision.identifiable_problem


def test_enough_spanning_subjects_adjusts_against_the_acquisition_most_subjects_started_on():
    decision = scanner.decide(two_groups(3), ["A", "B"])
    assert decision.adjusted and decision.reference == "old" and decision.levels == ("new",)
    assert decision.acquisitions["new"]["n_subjects_spanning"] == 6
    assert "6 subjects spanning new" in decision.reason


def test_too_few_spanning_subjects_is_not_adjusted_under_auto_and_said_loudly():
    decision = scanner.decide(two_groups(2), ["A", "B"], min_spanning=5)
    assert not decision.adjusted and decision.identifiable_problem
    assert "fewer than 5 subjects" in decision.reason and "new: 4" in decision.reason
    forced = scanner.decide(two_groups(2), ["A", "B"], mode="true", min_spanning=5)
    assert forced.adjusted
    assert not scanner.decide(two_groups(3), ["A", "B"], mode="false").adjusted


def test_acquisition_confounded_with_group_is_never_adjusted():
    for mode in ("auto", "true"):
        decision = scanner.decide(two_groups(0, confounded=True), ["A", "B"], mode=mode)
        assert not decision.adjusted and "confounded with group" in decision.reason
        assert decision.identifiable_problem


def test_step_columns_and_the_percent_scale():
    data = two_groups(3)
    names, columns = scanner.step_columns(data, ("new",))
    assert names == ["scanner[new]"] and columns[0].sum() == (data["scanner"] == "new").sum()


def coverage(rates):
    truth = rates["group"].map(GROUP_RATES)
    return ((rates["ci_low"] <= truth) & (truth <= rates["ci_high"])).mean()


@pytest.mark.parametrize("seed", [3, 4])
def test_the_step_is_recovered_and_frees_the_rates(seed):
    volumes, participants = simulate_volumes(seed)
    volumes = add_scanner_upgrade(volumes, seed, step_pct=-2.0)
    tables = model_rates(volumes, participants, ["brain"], Settings("HC"))
    decision = tables["description"]["scanner_adjustment"]
    assert decision["adjusted"] and decision["reference_scanner"] == "Skyra E11"
    step = tables["scanner_effects"].iloc[0]
    assert step["ci_low"] <= -2.0 <= step["ci_high"] and step["p_value"] < 1e-6
    assert coverage(tables["rates_by_group"]) == 1.0
    plain = model_rates(volumes, participants, ["brain"], Settings("HC", scanner_adjustment="false"))
    assert coverage(plain["rates_by_group"]) == 0.0  # the step went into every slope
    assert plain["scanner_effects"].empty
    sensitivity = tables["sensitivity"].iloc[0]
    plain_rates = plain["rates_by_group"].set_index("group")["rate_pct_per_year"]
    assert np.isclose(sensitivity["unadjusted_group_rate_pct_per_year"], plain_rates[sensitivity["group"]])
