"""Helpers the test files share: writing small images, and comparing our estimates with lme4's."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from brain_atrophy.stats.group import pct

TOLERANCE_PCT = 0.005  # the acceptance bar against R lme4/lmerTest, %/yr


def write_image(path, data, affine=None, dtype=None) -> Path:
    """``data`` saved at ``path`` (its folders made) as NIfTI-1, or as MGH when ``path`` ends
    in ``.mgz``; ``affine`` defaults to the identity, ``dtype`` to the array's own."""
    path = Path(path)
    data = np.asarray(data) if dtype is None else np.asarray(data).astype(dtype)
    affine = np.eye(4) if affine is None else affine
    image_class = nib.MGHImage if path.name.endswith(".mgz") else nib.Nifti1Image
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(image_class(data, affine), path)
    return path


def lmer_row(reference, kind: str, term: str, region: str):
    """The one row of the R reference table (tests/R/lmer_rates.R) for a slope, difference or
    scanner step of a region."""
    rows = reference[(reference.kind == kind) & (reference.term == term) & (reference.region == region)]
    assert len(rows) == 1, (kind, term, region)
    return rows.iloc[0]


def compare_with_lmer(rates, differences, reference):
    """Our group rates and differences against lmerTest's (``reference``, as tests/R/lmer_rates.R
    writes it): estimates to 0.005 %/yr, standard errors to 0.1 %, df and p-values to 2 %."""
    for _, row in rates.iterrows():
        r = lmer_row(reference, "slope", row["group"], row["region"])
        assert abs(row["rate_pct_per_year"] - pct(r.estimate)) < TOLERANCE_PCT
        assert row["slope_se"] == pytest.approx(r.se, rel=1e-3)
        assert row["df"] == pytest.approx(r.df, rel=0.02)
    for _, row in differences.iterrows():
        r = lmer_row(reference, "difference", row["group"], row["region"])
        assert abs(row["slope_difference"] - r.estimate) < TOLERANCE_PCT
        assert row["slope_difference_se"] == pytest.approx(r.se, rel=1e-3)
        assert row["p_value"] == pytest.approx(r.p, rel=0.02, abs=1e-4)
