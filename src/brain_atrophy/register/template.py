"""A template T1w registered to a subject's baseline T1w with ANTsPy, and its atlas labels
carried over (atlas_registration: for studies with T1w images only).

1. The template is smoothed to the subject image's resolution (a Gaussian of FWHM
   sqrt(subject voxel² − template voxel²)) and sampled in the subject's voxel size, so that both
   show the brain's edges equally sharp and every registration level sees equal voxels.
2. Affine (mutual information), then SyN (symmetric, diffeomorphic; mutual information), the
   metric restricted to the template's brain mask and a margin: a raw head's skull, scalp and
   neck move with positioning, not anatomy, and a brain template has none. SyN runs on the
   subject's image cropped to where that region lands after the affine step.
3. The atlas labels follow the same maps onto the subject's grid, by per-label interpolation
   (ANTs' genericLabel: each label's indicator interpolated, the largest wins) or nearest
   neighbour.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import tempfile
import time
from typing import NamedTuple

import numpy as np

from ..errors import InputError
from . import antspy, quality
from .pair import read_t1w

log = logging.getLogger(__name__)

DEFAULT_SETTINGS = {
    "iterations": [100, 70, 50],  # SyN iterations per level, coarse (÷4) to full resolution
    "metric": "mattes",  # SyN's: mutual information, or "CC" (local cross-correlation, radius 2)
    "mask_dilation_mm": 10.0,  # the metric's region: the template's brain and this margin
    "label_interpolation": "genericLabel",  # or "nearestNeighbor"
}
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


class TemplateFit(NamedTuple):
    """The maps (ANTs transform files, template → subject, in apply order: warp, then affine),
    the template's brain mask on the subject's grid (uint8, in the T1w's voxel order) and the QC
    measures."""

    transforms: list[str]
    brain_mask: np.ndarray
    measures: dict


def template_brain_mask(template, mask_path, template_path):
    """The template's brain: its mask image (on the template's grid, or carried by the
    affines), else the template's nonzero voxels (a brain-extracted template)."""
    ants = antspy.load()
    if mask_path is None:
        mask = template.new_image_like((template.numpy() > 0).astype("float32"))
    else:
        mask = read_t1w(mask_path, "brain mask")
        mask = ants.resample_image_to_target(mask, template, interp_type="nearestNeighbor")
        mask = template.new_image_like((mask.numpy() > 0).astype("float32"))
    if not mask.numpy().any():
        raise InputError(mask_path or template_path, "the template's brain mask is empty on its grid")
    return mask


def resolution_matched(template, voxel_mm: float):
    """The template as a ``voxel_mm`` scan would show it: smoothed by a Gaussian of FWHM
    sqrt(voxel_mm² − template voxel²), then sampled in ``voxel_mm`` voxels; unchanged when the
    template is as coarse. With the template's finer voxels kept, a 3 mm subject's fit took twice
    as long and read the thalamus 3-5 % small (docs/atlas.md)."""
    ants = antspy.load()
    own = max(template.spacing)
    if voxel_mm <= own:
        return template
    sigma = math.sqrt(voxel_mm**2 - own**2) / FWHM_PER_SIGMA
    smoothed = ants.smooth_image(template, sigma, sigma_in_physical_coordinates=True)
    return ants.resample_image(smoothed, (voxel_mm,) * 3, use_voxels=False, interp_type=0)


def fit_template(
    subject_t1w, template_path, mask_path, settings: dict, warp_path, affine_path, threads: int = 1
) -> TemplateFit:
    """Register the template (moving) to the subject's T1w (fixed); the maps are copied to
    ``warp_path`` and ``affine_path``."""
    os.environ["ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"] = str(threads)
    ants = antspy.load()
    settings = {**DEFAULT_SETTINGS, **settings}
    started = time.perf_counter()
    subject = read_t1w(subject_t1w)
    template = read_t1w(template_path, "template")
    mask = template_brain_mask(template, mask_path, template_path)
    metric_mask = ants.threshold_image(
        ants.iMath(mask, "MD", max(1, round(settings["mask_dilation_mm"] / min(template.spacing)))), 0.5, 2
    )
    moving = resolution_matched(template, max(subject.spacing))
    with tempfile.TemporaryDirectory() as tmp:
        prefix = os.path.join(tmp, "")
        with antspy.seeded():
            affine = ants.registration(
                subject,
                moving,
                "Affine",
                moving_mask=metric_mask,
                aff_random_sampling_rate=0.25,
                outprefix=prefix,
            )
        affine_seconds = time.perf_counter() - started
        # SyN on the part of the subject's image the metric's region reaches (and 2 voxels): a
        # raw head's neck and face would double the grid it updates at every iteration
        reached = ants.apply_transforms(
            subject, metric_mask, affine["fwdtransforms"], interpolator="nearestNeighbor"
        )
        if not reached.numpy().any():
            raise _no_overlap(subject_t1w, template_path)
        fixed = ants.crop_image(subject, ants.iMath(reached, "MD", 2))
        syn = ants.registration(
            fixed,
            moving,
            "SyNOnly",
            initial_transform=affine["fwdtransforms"][0],
            moving_mask=metric_mask,
            mask_all_stages=True,
            syn_metric=settings["metric"],
            syn_sampling=2 if settings["metric"] == "CC" else 32,
            reg_iterations=tuple(int(i) for i in settings["iterations"]),
            outprefix=prefix,
        )
        warp = next(t for t in syn["fwdtransforms"] if t.endswith(".nii.gz"))
        transforms = [str(warp_path), str(affine_path)]
        shutil.copyfile(warp, transforms[0])
        shutil.copyfile(affine["fwdtransforms"][0], transforms[1])
        warped = syn["warpedmovout"].numpy()
    brain = ants.apply_transforms(subject, mask, transforms, interpolator="nearestNeighbor").numpy() > 0
    if not brain.any():
        raise _no_overlap(subject_t1w, template_path)
    brain_on_fixed = (
        ants.apply_transforms(fixed, mask, transforms, interpolator="nearestNeighbor").numpy() > 0
    )
    measures = {
        "similarity": quality.similarity(fixed.numpy(), warped, brain_on_fixed),
        "affine_seconds": round(affine_seconds, 2),
        "seconds": round(time.perf_counter() - started, 2),
        "threads": threads,
    }
    log.info("registered %s to %s in %.1f s", template_path, subject_t1w, measures["seconds"])
    return TemplateFit(transforms, brain.astype(np.uint8), measures)


def _no_overlap(subject_t1w, template_path) -> InputError:
    return InputError(
        subject_t1w, f"the template {template_path} does not overlap this T1w after registration"
    )


def carry_labels(
    subject_t1w, labels_path, template_path, transforms: list[str], interpolation: str
) -> np.ndarray:
    """The atlas labels on the subject's grid (int32, in the T1w's voxel order). The labels must
    lie on (or overlap) the template."""
    ants = antspy.load()
    subject = read_t1w(subject_t1w)
    labels = read_t1w(labels_path, "atlas label image")
    template = read_t1w(template_path, "template")
    if not ants.image_physical_space_consistency(labels, template) and not _overlap(labels, template):
        raise InputError(labels_path, f"the atlas labels do not overlap the template {template_path}")
    carried = ants.apply_transforms(subject, labels, transforms, interpolator=interpolation).numpy()
    return np.rint(carried).astype(np.int32)


def _overlap(labels, template) -> bool:
    """Whether the labelled voxels fall inside the template's brain, in world space."""
    ants = antspy.load()
    on_template = ants.resample_image_to_target(labels, template, interp_type="nearestNeighbor").numpy()
    return bool(np.any((on_template > 0) & (template.numpy() > 0)))
