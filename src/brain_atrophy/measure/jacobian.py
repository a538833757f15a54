"""Jacobian integration: a region's follow-up volume from its baseline volume and the
deformation between the scans.

The Jacobian determinant J of the follow-up-to-baseline map, at a baseline voxel, is the
follow-up volume of that voxel over its baseline volume. A region's follow-up volume is then
its baseline volume times the mean of J over the region's baseline voxels, each weighted by how
much of it the region holds (1 for a label, its probability for a tissue map).
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def region_masks(labels: np.ndarray, regions: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
    """{region: boolean mask} of a label volume."""
    return {name: np.isin(labels, codes) for name, codes in regions.items()}


def mean_jacobian(jacobian: np.ndarray, weights: np.ndarray) -> float:
    """The weighted mean of J over a region (NaN for an empty region)."""
    weights = np.asarray(weights, dtype=np.float64)
    total = weights.sum()
    if total <= 0:
        return float("nan")
    return float(np.sum(jacobian * weights, dtype=np.float64) / total)


def integrate(jacobian: np.ndarray, weights: dict[str, np.ndarray], source) -> dict[str, float]:
    """{region: mean J} over each region's weights; a non-finite or non-positive mean (a map
    that folded or diverged there) is an InputError naming ``source``."""
    means = {}
    for name, region in weights.items():
        if region.shape != jacobian.shape:
            raise InputError(
                source, f"Jacobian grid {jacobian.shape} differs from the region's {region.shape}"
            )
        means[name] = mean_jacobian(jacobian, region)
        if np.isfinite(means[name]) and means[name] <= 0:
            raise InputError(source, f"registration diverged: mean Jacobian {means[name]:.3g} in {name}")
    return means


def followup_rows(baseline_rows: list[dict], means: dict[str, float], labelled_mean: float) -> list[dict]:
    """A follow-up's per-session rows by Jacobian integration, from the baseline's label rows:
    each volume scaled by its region's mean J (and the labelled volume by J over every
    labelled voxel); voxel counts and voxel size stay the baseline's."""
    return [
        {
            **row,
            "volume_mm3": row["volume_mm3"] * means[row["region"]]
            if np.isfinite(means[row["region"]])
            else row["volume_mm3"],
            "labelled_mm3": row["labelled_mm3"] * labelled_mean,
        }
        for row in baseline_rows
    ]
