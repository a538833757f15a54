"""Per-subject two-stage rates."""

import math

import numpy as np
import pandas as pd
import pytest

from brain_atrophy import twostage
from brain_atrophy.rates import log_slope, percent_per_year, subject_rate


def test_exponential_decay_gives_its_rate_exactly():
    years = np.array([0.0, 0.46, 0.92, 1.84])
    volumes = 1e6 * (1 - 0.004) ** years  # −0.4 %/yr compounded
    assert percent_per_year(log_slope(years, volumes)) == pytest.approx(-0.4, abs=1e-10)


def test_rate_is_independent_of_session_order_and_date_shift():
    years = [1.5, 0.0, 0.5]
    volumes = [980.0, 1000.0, 995.0]
    a = subject_rate(years, volumes)
    b = subject_rate([y + 70 for y in years[::-1]], volumes[::-1])
    assert a["rate_pct_per_year"] == pytest.approx(b["rate_pct_per_year"])
    assert a["baseline_volume_mm3"] == 1000.0
    assert a["followup_years"] == 1.5
    assert a["n_sessions"] == 3


def test_single_session_has_no_rate():
    summary = subject_rate([0.0], [1000.0])
    assert summary["n_sessions"] == 1 and summary["followup_years"] == 0.0
    assert math.isnan(summary["rate_pct_per_year"])


def test_absent_region_has_no_rate():
    summary = subject_rate([0.0, 1.0], [0.0, 0.0])
    assert summary["n_sessions"] == 0 and math.isnan(summary["rate_pct_per_year"])


def test_vectorized_two_stage_rates_equal_the_per_subject_ones():
    rng = np.random.default_rng(3)
    rows = []
    for subject in range(6):
        years = np.sort(rng.uniform(0, 2, subject % 4 + 1))
        volumes = 1e5 * np.exp(-0.01 * years + rng.normal(0, 0.002, years.size))
        rows += [
            {"participant_id": f"sub-{subject}", "region": "r", "years": t, "volume_mm3": v}
            for t, v in zip(years, volumes, strict=True)
        ]
    table = pd.DataFrame(rows)
    vectorized = twostage.subject_rates(table).set_index("participant_id")
    for subject, group in table.groupby("participant_id"):
        expected = subject_rate(group["years"], group["volume_mm3"])
        for key, value in expected.items():
            assert vectorized.loc[subject, key] == pytest.approx(value, nan_ok=True)
