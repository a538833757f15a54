"""How well a pair registered: numbers any reader of the pair's Jacobian can check.

- ``similarity``: the correlation of the baseline and the warped follow-up inside the brain;
- ``shell_log_jacobian``: the mean log-Jacobian in a shell just outside the brain, where
  nothing should change (about 0; a global drift there is a scaling error);
- ``folding_fraction``: the fraction of brain voxels with a Jacobian ≤ 0 (the map folded).
"""

from __future__ import annotations

import math

import numpy as np

# the flags a pair can raise (the thresholds are config 'qc')
REGISTRATION_FAILED, POOR_ALIGNMENT = "registration_failed", "poor_alignment"


def similarity(fixed: np.ndarray, warped: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of two images' intensities over ``mask``."""
    a, b = fixed[mask].astype(float), warped[mask].astype(float)
    if a.size < 2 or a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def shell(mask: np.ndarray, voxel_mm: tuple[float, float, float], inner_mm=4.0, outer_mm=10.0) -> np.ndarray:
    """Voxels between ``inner_mm`` and ``outer_mm`` outside ``mask``."""
    from scipy import ndimage

    distance = ndimage.distance_transform_edt(~mask, sampling=voxel_mm)
    return (distance > inner_mm) & (distance <= outer_mm)


def shell_log_jacobian(jacobian: np.ndarray, shell_mask: np.ndarray) -> float:
    values = jacobian[shell_mask]
    values = values[values > 0]
    return float(np.mean(np.log(values))) if values.size else float("nan")


def folding_fraction(jacobian: np.ndarray, mask: np.ndarray) -> float:
    values = jacobian[mask]
    return float(np.mean(values <= 0)) if values.size else float("nan")


# A map that folds in more than 1 % of the brain, or swells or shrinks the head's surroundings
# by 10 %, did not converge: its Jacobian measures nothing (an error, not a flag).
DIVERGED = {"max_folding_fraction": 0.01, "max_shell_log_jacobian": 0.1}


def diverged(measures: dict) -> bool:
    return not all(math.isfinite(measures[k]) for k in ("shell_log_jacobian", "folding_fraction")) or (
        measures["folding_fraction"] > DIVERGED["max_folding_fraction"]
        or abs(measures["shell_log_jacobian"]) > DIVERGED["max_shell_log_jacobian"]
    )


def flags(measures: dict, thresholds: dict) -> list[str]:
    """The pair's QC flags: ``registration_failed`` when its map folded, drifted outside the
    brain or is not finite; ``poor_alignment`` when the images correlate too little."""
    failed = (
        not all(math.isfinite(measures[k]) for k in ("similarity", "shell_log_jacobian", "folding_fraction"))
        or measures["folding_fraction"] > thresholds["max_folding_fraction"]
        or abs(measures["shell_log_jacobian"]) > thresholds["max_shell_log_jacobian"]
    )
    found = [REGISTRATION_FAILED] if failed else []
    if math.isfinite(measures["similarity"]) and measures["similarity"] < thresholds["min_similarity"]:
        found.append(POOR_ALIGNMENT)
    return found
