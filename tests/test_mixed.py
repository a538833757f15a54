"""The REML mixed model against an independent dense implementation and planted truth."""

import math

import numpy as np
import pandas as pd
import pytest

from brain_atrophy.stats import mixed
from brain_atrophy.stats.group import Settings, design, model_rates, pct
from brain_atrophy_demo.simulate import GROUP_RATES, simulate_volumes


def model_inputs(seed, **kwargs):
    volumes, participants = simulate_volumes(seed, **kwargs)
    volumes = volumes.assign(group=volumes["participant_id"].map(participants["group"]))
    X, names = design(volumes, list(GROUP_RATES), pd.DataFrame(index=participants.index))
    y = 100 * np.log(volumes["volume_mm3"].to_numpy())
    return y, X, volumes["years"].to_numpy(), volumes["participant_id"].to_numpy(), names


def dense_reml_deviance(y, X, t, subjects, theta):
    """-2 × REML log-likelihood, profiled over σ², with full per-subject covariance matrices."""
    lam = np.array([[theta[0], 0], [theta[1], theta[2]]])
    n, p = X.shape
    blocks = []
    for s in pd.unique(subjects):
        rows = subjects == s
        Z = np.column_stack([np.ones(rows.sum()), t[rows]])
        blocks.append((rows, np.eye(rows.sum()) + Z @ lam @ lam.T @ Z.T))
    H = np.zeros((n, n))
    for rows, block in blocks:
        H[np.ix_(rows, rows)] = block
    Hinv = np.linalg.inv(H)
    XtHX = X.T @ Hinv @ X
    beta = np.linalg.solve(XtHX, X.T @ Hinv @ y)
    r = y - X @ beta
    sigma2 = r @ Hinv @ r / (n - p)
    return (
        np.linalg.slogdet(H)[1] + np.linalg.slogdet(XtHX)[1] + (n - p) * (1 + math.log(2 * math.pi * sigma2))
    )


def test_deviance_equals_dense_computation():
    y, X, t, subjects, _ = model_inputs(3, n_per_group=(6, 6, 5))
    codes = pd.factorize(subjects)[0]
    # fit() works on the OLS residual of y, which leaves the REML deviance unchanged
    residual = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    stats = mixed.sufficient_statistics(residual, X, t, codes)
    for theta in ([1.0, 0.0, 1.0], [40.0, -0.1, 0.4], [5.0, 2.0, 0.0]):
        assert mixed.reml_deviance(stats, np.array(theta)) == pytest.approx(
            dense_reml_deviance(y, X, t, subjects, theta), rel=1e-10
        )


def test_fit_is_invariant_to_shifting_time():
    y, X, t, subjects, names = model_inputs(4)
    a = mixed.fit(y, X, t, subjects, names)
    shifted_X = X.copy()
    shifted_X[:, 3:6] = X[:, 3:6] + 5.0 * X[:, 0:3]  # group:years columns with years + 5
    b = mixed.fit(y, shifted_X, t + 5.0, subjects, names)
    assert a.converged and b.converged
    np.testing.assert_allclose(a.beta[3:], b.beta[3:], atol=1e-6)


def test_planted_group_rates_are_recovered():
    volumes, participants = simulate_volumes(5, n_per_group=(150, 150, 150), noise_sd=0.2)
    tables = model_rates(volumes, participants, ["brain"], Settings("HC"))
    rates, differences = tables["rates_by_group"], tables["group_differences"]
    for _, row in rates.iterrows():
        truth = pct(GROUP_RATES[row["group"]])
        assert row["converged"]
        assert row["ci_low"] < truth < row["ci_high"], row.to_dict()
        assert abs(row["rate_pct_per_year"] - truth) < 0.05
    assert set(differences["group"]) == {"OCR", "IFN"}
    assert (differences["p_value"] < 1e-6).all()


def test_fdr_never_below_raw_p_and_monotone():
    volumes, participants = simulate_volumes(6, n_per_group=(10, 10, 10))
    regions = []
    for k, scale in enumerate([1.0, 0.999, 1.001]):
        regions.append(volumes.assign(region=f"r{k}", volume_mm3=volumes["volume_mm3"] * scale))
    differences = model_rates(pd.concat(regions), participants, ["r0", "r1", "r2"], Settings("HC"))[
        "group_differences"
    ]
    assert (differences["p_fdr"] >= differences["p_value"] - 1e-15).all()
    assert differences["p_fdr"].notna().all()


def test_no_random_slope_variance_gives_singular_but_converged_fit():
    y, X, t, subjects, names = model_inputs(7, slope_sd=0.0, noise_sd=0.3)
    fit = mixed.fit(y, X, t, subjects, names)
    assert fit.converged
    # the slope SD relative to σ is estimated near zero (possibly exactly on the boundary)
    assert math.hypot(fit.theta[1], fit.theta[2]) * fit.sigma < 0.05
