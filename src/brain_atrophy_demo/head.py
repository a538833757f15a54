"""A head around the template's brain: the mean head T1w of the ``pydeface==2.1.0`` wheel on PyPI
(MIT licence; a mean of registered heads, with skull, scalp, face and neck), aligned to the
brain-extracted template and scaled to its intensities. The default head template and the test
subjects of atlas_registration (brain_atrophy_demo.deform) keep the template's brain, and its
exact atlas labels, and take from this head everything outside the brain, as a raw T1w shows it.

The alignment is a similarity, then an affine map (ANTsPy, mutual information at 2 mm), its
metric restricted to the template's brain eroded by 8 mm: the brain's inside (ventricles, white
and grey matter) fixes it, not the brain's edge, which the head shows with its skull behind."""

from __future__ import annotations

import os
import tempfile
from typing import NamedTuple

import numpy as np

from .demo import fetch_member

HEAD_WHEEL = "pydeface==2.1.0"
HEAD_MEMBER = "pydeface/data/mean_reg2mean.nii.gz"
HEAD_SHA256 = "fdc13571d66293f9919648cd8de9a7b3491b12175e09336353d2c9ce0466ecb6"
PAD_MM = 40.0  # room around the atlas grid for the skull, scalp, face and neck
EROSION_MM = 8.0
WHITE_MATTER = (2, 41)  # FreeSurfer codes of the IBSR atlas
SEED = 1  # ANTs' sampling: the same head on every machine


class Head(NamedTuple):
    """The head on ``affine``'s 1 mm grid (the atlas grid padded by PAD_MM, cropped to the head):
    values in the template's units, and the slices of that grid holding the atlas grid."""

    values: np.ndarray  # float32
    affine: np.ndarray
    atlas_slices: tuple


def padded_grid(affine: np.ndarray, shape, pad_mm: float = PAD_MM):
    """(affine, shape) of a grid with the same axes and voxels, ``pad_mm`` larger on every side."""
    pad = int(round(pad_mm / float(np.linalg.norm(affine[:3, 0]))))
    grown = affine.copy()
    grown[:3, 3] = affine[:3, :3] @ np.full(3, -pad) + affine[:3, 3]
    return grown, tuple(n + 2 * pad for n in shape), pad


def align_head(cache_dir, brain: np.ndarray, brain_mask: np.ndarray, labels: np.ndarray, affine) -> Head:
    """The pydeface head carried onto the padded atlas grid by an affine fitted to the template's
    ``brain`` (values on the atlas grid, ``affine``), scaled so that its median in the atlas's
    white matter equals the template's, and cropped to the head (and the atlas grid)."""
    import nibabel as nib

    from brain_atrophy.register import antspy

    ants = antspy.load()  # imported here, as only the install and the test builder need it

    head_path = fetch_member(cache_dir, HEAD_MEMBER, HEAD_SHA256, wheel=HEAD_WHEEL)
    grown, shape, pad = padded_grid(affine, brain.shape)
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, data, grid in (
            ("brain", brain.astype(np.float32), affine),
            ("mask", brain_mask.astype(np.float32), affine),
            ("grid", np.zeros(shape, np.float32), grown),
        ):
            files[name] = os.path.join(tmp, f"{name}.nii.gz")
            nib.save(nib.Nifti1Image(data, grid), files[name])
        fixed = ants.resample_image(ants.image_read(files["brain"]), (2, 2, 2), interp_type=0)
        mask = ants.resample_image(ants.image_read(files["mask"]), (2, 2, 2), interp_type=1)
        mask = ants.iMath(mask, "ME", round(EROSION_MM / 2))
        head = ants.image_read(str(head_path))
        moving = ants.resample_image(head, (2, 2, 2), interp_type=0)
        with antspy.seeded(SEED):
            # similarity first: started at the centres of mass (the head's lies in the neck), a
            # direct affine fit lands on a 1.5x scale in some runs
            similarity = ants.registration(
                fixed,
                moving,
                "Similarity",
                mask=mask,
                aff_random_sampling_rate=1.0,
                outprefix=os.path.join(tmp, "s"),
            )
            fit = ants.registration(
                fixed,
                moving,
                "Affine",
                initial_transform=similarity["fwdtransforms"][0],
                mask=mask,
                aff_random_sampling_rate=1.0,
                outprefix=os.path.join(tmp, "a"),
            )
        values = ants.apply_transforms(ants.image_read(files["grid"]), head, fit["fwdtransforms"]).numpy()
    inner = tuple(slice(pad, pad + n) for n in brain.shape)
    white = np.isin(labels, WHITE_MATTER)
    values *= np.median(brain[white]) / np.median(values[inner][white])
    shown = values > 0.02 * values.max()
    shown[inner] = True
    low = np.argwhere(shown).min(axis=0)
    high = np.argwhere(shown).max(axis=0) + 1
    crop = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    cropped = grown.copy()
    cropped[:3, 3] = grown[:3, :3] @ low + grown[:3, 3]
    atlas_slices = tuple(slice(pad - a, pad - a + n) for a, n in zip(low, brain.shape, strict=True))
    return Head(np.ascontiguousarray(values[crop], dtype=np.float32), cropped, atlas_slices)
