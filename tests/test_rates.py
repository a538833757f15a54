"""The one slope and the one unit conversion, and the two-stage rates built on them."""

import math

import numpy as np
import pandas as pd
import pytest

from brain_atrophy.stats import twostage
from brain_atrophy.stats.rates import log100_slopes, pct


def series(years, volumes, subject="sub-1", region="r"):
    return pd.DataFrame({"participant_id": subject, "region": region, "years": years, "volume_mm3": volumes})


def test_exponential_decay_gives_its_rate_exactly():
    years = np.array([0.0, 0.46, 0.92, 1.84])
    slope = log100_slopes(series(years, 1e6 * (1 - 0.004) ** years), ["participant_id"]).iloc[0]
    assert pct(slope) == pytest.approx(-0.4, abs=1e-10)  # −0.4 %/yr compounded


def test_pct_keeps_scalars_arrays_and_series():
    assert pct(100 * math.log(0.98)) == pytest.approx(-2.0)
    assert np.allclose(pct(np.array([0.0, 100 * math.log(1.01)])), [0.0, 1.0])
    assert list(pct(pd.Series([0.0], index=["a"])).index) == ["a"]


def test_rate_is_independent_of_session_order_and_date_shift():
    a = twostage.subject_rates(series([1.5, 0.0, 0.5], [980.0, 1000.0, 995.0])).iloc[0]
    b = twostage.subject_rates(series([70.5, 71.5, 70.0], [995.0, 980.0, 1000.0])).iloc[0]
    assert a["rate_pct_per_year"] == pytest.approx(b["rate_pct_per_year"])
    assert a["baseline_volume_mm3"] == 1000.0 and a["followup_years"] == 1.5 and a["n_sessions"] == 3


def test_single_session_has_no_rate():
    summary = twostage.subject_rates(series([0.0], [1000.0])).iloc[0]
    assert summary["n_sessions"] == 1 and summary["followup_years"] == 0.0
    assert math.isnan(summary["rate_pct_per_year"])


def test_absent_region_has_no_rate():
    table = pd.concat([series([0.0, 1.0], [0.0, 0.0], region="absent"), series([0.0, 1.0], [10.0, 9.0])])
    rates = twostage.subject_rates(table)
    assert list(rates["region"]) == ["r"]  # no sessions with a volume: no row
    assert log100_slopes(table, ["region"]).index.tolist() == ["r"]


def test_vectorized_slopes_equal_per_subject_least_squares():
    rng = np.random.default_rng(3)
    frames = []
    for subject in range(6):
        years = np.sort(rng.uniform(0, 2, subject % 4 + 1))
        volumes = 1e5 * np.exp(-0.01 * years + rng.normal(0, 0.002, years.size))
        frames.append(series(years, volumes, subject=f"sub-{subject}"))
    table = pd.concat(frames, ignore_index=True)
    slopes = log100_slopes(table, ["participant_id", "region"])
    for (subject, region), group in table.groupby(["participant_id", "region"]):
        if group["years"].nunique() < 2:
            assert math.isnan(slopes[(subject, region)])
            continue
        expected = np.polyfit(group["years"], 100 * np.log(group["volume_mm3"]), 1)[0]
        assert slopes[(subject, region)] == pytest.approx(expected)
