"""Jacobian integration (brain_atrophy.measure.jacobian), registration QC measures
(brain_atrophy.register.quality) and labels carried onto a T1w grid (measure.regrid)."""

import numpy as np
import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.measure.jacobian import followup_rows, integrate, mean_jacobian, region_masks
from brain_atrophy.measure.regrid import labels_on_grid
from brain_atrophy.register import quality


def test_mean_jacobian_weights_partial_voxels():
    jacobian = np.array([0.9, 1.0, 1.2])
    assert mean_jacobian(jacobian, np.array([1, 1, 0])) == pytest.approx(0.95)
    assert mean_jacobian(jacobian, np.array([1.0, 0.0, 0.5])) == pytest.approx((0.9 + 0.6) / 1.5)
    assert np.isnan(mean_jacobian(jacobian, np.zeros(3)))


def test_followup_volume_is_baseline_times_mean_jacobian():
    labels = np.array([[[10, 10, 2, 0]]])
    jacobian = np.array([[[0.96, 0.98, 1.0, 1.5]]])
    weights = {**region_masks(labels, {"thalamus": (10,), "white_matter": (2,)}), "labelled": labels > 0}
    means = integrate(jacobian, weights, "J.nii.gz")
    assert means["thalamus"] == pytest.approx(0.97)
    rows = [
        {
            "region": "thalamus",
            "method": "jacobian",
            "volume_mm3": 200.0,
            "n_voxels": 2,
            "labelled_mm3": 300.0,
            "voxel_mm3": 1.0,
        },
        {
            "region": "white_matter",
            "method": "jacobian",
            "volume_mm3": 100.0,
            "n_voxels": 1,
            "labelled_mm3": 300.0,
            "voxel_mm3": 1.0,
        },
    ]
    out = followup_rows(rows, means, means.pop("labelled"))
    assert out[0]["volume_mm3"] == pytest.approx(194.0)
    assert out[1]["volume_mm3"] == pytest.approx(100.0)
    assert out[0]["labelled_mm3"] == pytest.approx(300.0 * (0.96 + 0.98 + 1.0) / 3)
    assert out[0]["n_voxels"] == 2


def test_a_map_that_collapsed_in_a_region_is_an_error_naming_it():
    labels = np.array([1, 1, 0])
    with pytest.raises(InputError, match="J.nii.gz.*diverged"):
        integrate(np.array([-0.5, 0.2, 1.0]), region_masks(labels, {"r": (1,)}), "J.nii.gz")


def test_labels_on_their_own_grid_are_returned_unchanged():
    labels = np.arange(8).reshape(2, 2, 2)
    assert labels_on_grid(labels, np.eye(4), (2, 2, 2), np.eye(4), ("l", "t")) is labels


def test_labels_on_a_finer_grid_are_carried_over_by_nearest_neighbour():
    labels = np.zeros((4, 4, 4), np.int16)
    labels[2:, :, :] = 7  # x >= 2 mm on a 1 mm grid
    coarse = np.diag([2.0, 2.0, 2.0, 1.0])  # voxel centres at 0 and 2 mm
    out = labels_on_grid(labels, np.eye(4), (2, 2, 2), coarse, ("l", "t"))
    assert out.dtype == labels.dtype
    assert (out[0] == 0).all() and (out[1] == 7).all()


def test_labels_that_miss_the_t1w_are_an_error_naming_both_files():
    labels = np.ones((2, 2, 2), np.int16)
    far = np.eye(4)
    far[:3, 3] = 500
    with pytest.raises(InputError, match="labels.nii.gz.*T1w.nii.gz"):
        labels_on_grid(labels, far, (2, 2, 2), np.eye(4), ("labels.nii.gz", "T1w.nii.gz"))


def test_quality_measures_and_flags():
    mask = np.zeros((30, 30, 30), bool)
    mask[10:20, 10:20, 10:20] = True
    shell = quality.shell(mask, (1.0, 1.0, 1.0), inner_mm=2, outer_mm=4)
    assert not (shell & mask).any() and shell.sum() > 0
    jacobian = np.ones(mask.shape)
    jacobian[shell] = np.exp(0.02)
    jacobian[12, 12, 12] = -0.1
    assert quality.shell_log_jacobian(jacobian, shell) == pytest.approx(0.02)
    assert quality.folding_fraction(jacobian, mask) == pytest.approx(1 / 1000)
    rng = np.random.default_rng(0)
    fixed = rng.normal(size=mask.shape)
    assert quality.similarity(fixed, fixed * 2 + 1, mask) == pytest.approx(1.0)
    thresholds = {"min_similarity": 0.9, "max_folding_fraction": 0.0005, "max_shell_log_jacobian": 0.01}
    good = {"similarity": 0.99, "shell_log_jacobian": 0.001, "folding_fraction": 0.0}
    assert quality.flags(good, thresholds) == []
    assert quality.flags({**good, "similarity": 0.5}, thresholds) == ["poor_alignment"]
    assert quality.flags({**good, "folding_fraction": 0.001}, thresholds) == ["registration_failed"]
    assert quality.flags({**good, "shell_log_jacobian": -0.05}, thresholds) == ["registration_failed"]
    assert not quality.diverged(good)
    assert quality.diverged({**good, "folding_fraction": 0.2})
    assert quality.diverged({**good, "shell_log_jacobian": float("nan")})
