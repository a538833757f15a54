"""One follow-up T1w registered to its baseline with ANTsPy, symmetrically.

1. Rigid: the follow-up onto the baseline (mutual information, inside the baseline's brain
   mask, which the baseline labels give).
2. Halfway: both images are resampled into the space halfway between them (the rigid map split
   in two), so both are interpolated once and alike, and both get one N4 bias-field correction
   with one mask there.
3. Deformable: ANTs SyN (symmetric, diffeomorphic) with the local cross-correlation metric,
   inside the mask.
4. The Jacobian determinant of the SyN map, brought back to the baseline's grid through the
   half rigid map (a rigid map changes no volume): follow-up volume / baseline volume at each
   baseline voxel.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from . import antspy, quality
from .halfway import affine_matrix, half_transform, rotation_degrees

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = {
    # SyN iterations per level, coarse (÷4) to full resolution. At 1 mm a full-resolution
    # iteration costs ~20 s on 2 threads; 4 of them with a step of 0.5 take half the time of 10
    # with a step of 0.2, and read pseudo-rescans closer to no change
    # (docs/performance.md#registration).
    "iterations": [40, 20, 4],
    "metric": "CC",  # local cross-correlation, or "MeanSquares" (intensities matched first)
    "metric_radius": 2,  # voxels of the cross-correlation window
    "gradient_step": 0.5,
    "flow_sigma": 3.0,  # voxels: smoothness of the update field
    "total_sigma": 0.0,
    "mask_dilation_mm": 4.0,  # the metric's mask: the labelled brain and this much around it
    # N4's B-spline fitting levels: the mesh doubles at each (1, 2, 4 spans across the image);
    # a fourth level bent the thalamus's reading by up to 0.34 % in pseudo-rescans
    # (docs/performance.md#registration)
    "bias_field_levels": 3,
    # how both images are sampled into the halfway space: "linear" averages neighbouring voxels,
    # and so smooths each image's noise by an amount that depends on its sub-voxel shift;
    # "bSpline" keeps the noise and the edges as they are (docs/performance.md#registration)
    "halfway_interpolation": "linear",
}
# The halfway grid is the baseline's, cropped to the brain and this margin: SyN's cost follows
# the grid's size (a raw head's neck and air are most of it), and the QC shell (4-10 mm
# outside the brain) stays inside.
CROP_MARGIN_MM = 15.0


class PairResult(NamedTuple):
    """``jacobian`` and ``warped`` (the follow-up on the baseline's grid) as float32 arrays
    in the baseline image's voxel order, and the pair's QC measures."""

    jacobian: np.ndarray
    warped: np.ndarray
    measures: dict


def read_t1w(path, what: str = "T1w"):
    """A 3D scalar image (a T1w, or ``what``) as an ANTs image; anything else is an InputError
    naming the file."""
    ants = antspy.load()
    try:
        image = ants.image_read(str(path))
    except Exception as err:  # ITK's readers raise bare RuntimeErrors
        raise InputError(path, f"cannot be read as an image ({err})") from None
    if image.dimension != 3 or image.components != 1:
        raise InputError(
            path, f"{what} is not a 3D image (dimension {image.dimension}, {image.components} components)"
        )
    return image


def _matrix_transform(matrix: np.ndarray):
    ants = antspy.load()
    return ants.create_ants_transform(
        transform_type="AffineTransform", dimension=3, matrix=matrix[:3, :3], offset=matrix[:3, 3]
    )


def _resample(image, matrix: np.ndarray, reference, interpolator="linear"):
    """``image`` sampled at matrix·x for every point x of ``reference``'s grid."""
    ants = antspy.load()
    return ants.apply_ants_transform_to_image(
        _matrix_transform(matrix), image, reference, interpolation=interpolator
    )


def brain_mask(labels: np.ndarray, spacing, dilation_mm: float) -> np.ndarray:
    """The labelled voxels and ``dilation_mm`` around them (edges of the brain carry signal)."""
    from scipy import ndimage

    inside = labels > 0
    if dilation_mm <= 0:
        return inside
    return ndimage.distance_transform_edt(~inside, sampling=spacing) <= dilation_mm


def register_pair(
    baseline_path, followup_path, labels: np.ndarray, settings: dict, threads: int = 1
) -> PairResult:
    """Register ``followup_path`` to ``baseline_path``; ``labels`` are the baseline's region
    labels on the baseline T1w's grid (their brain is the registration's mask)."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    ants = antspy.load()
    settings = {**DEFAULT_SETTINGS, **settings}
    started = time.perf_counter()
    fixed, moving = read_t1w(baseline_path), read_t1w(followup_path)
    if labels.shape != fixed.shape:
        raise InputError(
            baseline_path, f"labels of shape {labels.shape} are not on this T1w's grid {fixed.shape}"
        )
    mask_array = brain_mask(labels, fixed.spacing, settings["mask_dilation_mm"])
    mask = fixed.new_image_like(mask_array.astype("float32"))
    crop = fixed.new_image_like(brain_mask(labels, fixed.spacing, CROP_MARGIN_MM).astype("float32"))
    grid = ants.crop_image(fixed, crop)

    phases = {}

    def lap(phase):
        phases[phase] = round(time.perf_counter() - started - sum(phases.values()), 2)

    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "")
        lap("reading")
        with antspy.seeded():
            rigid = ants.registration(
                fixed,
                moving,
                "Rigid",
                mask=mask,
                aff_metric="mattes",
                aff_random_sampling_rate=0.25,
                outprefix=prefix,
            )
        transform = ants.read_transform(rigid["fwdtransforms"][0])
        matrix = affine_matrix(transform.parameters, transform.fixed_parameters)
        half = half_transform(matrix)
        inverse_half = np.linalg.inv(half)
        lap("rigid")
        # halfway images: the baseline at H⁻¹x, the follow-up at Hx (H·H maps baseline to follow-up)
        interpolation = settings["halfway_interpolation"]
        fixed_half = _resample(fixed, inverse_half, grid, interpolation)
        moving_half = _resample(moving, half, grid, interpolation)
        mask_half = _resample(mask, inverse_half, grid, "nearestNeighbor")
        n4_convergence = {"iters": [50] * int(settings["bias_field_levels"]), "tol": 1e-7}
        fixed_half = ants.n4_bias_field_correction(fixed_half, mask=mask_half, convergence=n4_convergence)
        moving_half = ants.n4_bias_field_correction(moving_half, mask=mask_half, convergence=n4_convergence)
        if settings["metric"] == "MeanSquares":
            # same scale for both: each divided by its median inside the brain
            inside = mask_half.numpy() > 0
            fixed_half = fixed_half / float(np.median(fixed_half.numpy()[inside]))
            moving_half = moving_half / float(np.median(moving_half.numpy()[inside]))
        lap("halfway_n4")
        syn = ants.registration(
            fixed_half,
            moving_half,
            "SyNOnly",
            initial_transform="Identity",
            mask=mask_half,
            syn_metric="CC" if settings["metric"] == "CC" else "meansquares",
            syn_sampling=int(settings["metric_radius"]),
            reg_iterations=tuple(int(i) for i in settings["iterations"]),
            grad_step=float(settings["gradient_step"]),
            flow_sigma=float(settings["flow_sigma"]),
            total_sigma=float(settings["total_sigma"]),
            outprefix=prefix,
        )
        lap("syn")
        warp = next(t for t in syn["fwdtransforms"] if t.endswith(".nii.gz"))
        jacobian_half = ants.create_jacobian_determinant_image(fixed_half, warp)
        measures_half = {
            "similarity": quality.similarity(
                fixed_half.numpy(), syn["warpedmovout"].numpy(), mask_half.numpy() > 0
            ),
        }
        # back to the baseline's grid: its point x sits at Hx in the halfway space (J − 1 is
        # resampled, so that J is 1 outside the cropped grid)
        jacobian = 1 + _resample(jacobian_half - 1, half, fixed).numpy().astype("float32")
        half_file = os.path.join(tmp, "half.mat")
        ants.write_transform(_matrix_transform(half), half_file)
        # the follow-up on the baseline's grid for QC: x → Hx → SyN → H(…) in the follow-up
        warped = ants.apply_transforms(fixed, moving, [half_file, warp, half_file]).numpy().astype("float32")
        lap("jacobian_warped")

    inside = labels > 0
    voxel_mm = tuple(float(s) for s in fixed.spacing)
    measures = {
        **measures_half,
        "shell_log_jacobian": quality.shell_log_jacobian(jacobian, quality.shell(mask_array, voxel_mm)),
        "folding_fraction": quality.folding_fraction(jacobian, inside),
        "rigid_rotation_degrees": rotation_degrees(matrix),
        "seconds": time.perf_counter() - started,
        "phase_seconds": phases,
        "threads": threads,
    }
    log.info("registered %s to %s in %.1f s", followup_path, baseline_path, measures["seconds"])
    return PairResult(jacobian, warped, measures)
