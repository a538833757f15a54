"""The default template and atlas of atlas_registration, installed offline from PyPI.

``python -m brain_atrophy_demo.atlas OUT_DIR`` (``make atlas``) writes, on one 1 mm grid (the
IBSR atlas's, grown to hold a head):

- ``tpl-deepmriprep_res-1_T1w.nii.gz``: a head template. Inside the brain mask, the
  brain-extracted 0.5 mm T1 template of the ``deepmriprep==0.3.0`` wheel (MIT licence; CAT12's
  template), blurred to a 1 mm scan's resolution (Gaussian, FWHM 1 mm); outside it, the mean
  head of the ``pydeface==2.1.0`` wheel (MIT), aligned and scaled to it (brain_atrophy_demo.head);
- ``tpl-deepmriprep_res-1_desc-brain_T1w.nii.gz``: the brain alone (zero outside the mask), for
  brain-extracted T1w images;
- ``tpl-deepmriprep_res-1_desc-brain_mask.nii.gz``: the brain (the template's nonzero voxels,
  and the atlas's labelled ones);
- ``tpl-deepmriprep_res-1_atlas-IBSR_dseg.nii.gz``: the wheel's IBSR atlas (FreeSurfer codes, so
  ``regions: freesurfer`` applies), its labels unchanged.
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

from .demo import ATLAS_MEMBER, ATLAS_SHA256, TEMPLATE_MEMBER, TEMPLATE_SHA256, fetch_member
from .head import align_head

TEMPLATE = "tpl-deepmriprep_res-1_T1w.nii.gz"
BRAIN_TEMPLATE = "tpl-deepmriprep_res-1_desc-brain_T1w.nii.gz"
BRAIN_MASK = "tpl-deepmriprep_res-1_desc-brain_mask.nii.gz"
LABELS = "tpl-deepmriprep_res-1_atlas-IBSR_dseg.nii.gz"
SCALE = 1000.0  # stored intensity of the template's value 1
FWHM_PER_SIGMA = 2 * math.sqrt(2 * math.log(2))


def resample_template(template: nib.Nifti1Image, grid: nib.Nifti1Image, fwhm_mm: float = 1.0):
    """The template's values and brain mask at ``grid``'s voxel centres, after a Gaussian blur of
    ``fwhm_mm`` (what a scanner with that resolution sees)."""
    data = template.get_fdata(dtype=np.float32)
    zoom = float(np.linalg.norm(template.affine[:3, 0]))
    blurred = ndimage.gaussian_filter(data, fwhm_mm / FWHM_PER_SIGMA / zoom)
    index = nib.affines.apply_affine(
        np.linalg.inv(template.affine) @ grid.affine, np.indices(grid.shape).reshape(3, -1).T
    ).T
    values = ndimage.map_coordinates(blurred, index, order=1, mode="constant", cval=0)
    inside = ndimage.map_coordinates((data > 0).astype(np.float32), index, order=1, mode="constant", cval=0)
    return values.reshape(grid.shape), inside.reshape(grid.shape) >= 0.5


def install(out_dir, cache_dir=".cache") -> dict:
    """Write the head template, the brain template, its mask and the atlas into ``out_dir`` (once:
    files already there are kept); returns the paths of atlas_registration's keys (``template``:
    the head template, ``brain_mask``, ``labels``). Each file is written beside and renamed, so
    that concurrent installs never read a partial one."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = {"template": out / TEMPLATE, "brain_mask": out / BRAIN_MASK, "labels": out / LABELS}
    brain_path = out / BRAIN_TEMPLATE
    if all(path.is_file() for path in [*written.values(), brain_path]):
        return written
    template = nib.load(fetch_member(cache_dir, TEMPLATE_MEMBER, TEMPLATE_SHA256))
    atlas = nib.load(fetch_member(cache_dir, ATLAS_MEMBER, ATLAS_SHA256))
    values, brain = resample_template(template, atlas)
    labels = np.asarray(atlas.dataobj).astype(np.int16)
    brain |= labels > 0  # a few per cent of the atlas's edge lie just outside the template's brain
    values = np.where(brain, values, 0).astype(np.float32)
    head = align_head(cache_dir, values, brain, labels, atlas.affine)

    def on_head_grid(data, dtype):
        grown = np.zeros(head.values.shape, dtype)
        grown[head.atlas_slices] = data
        return grown

    brain_on_head = on_head_grid(brain, bool)
    arrays = {
        written["template"]: np.where(brain_on_head, on_head_grid(values, np.float32), head.values) * SCALE,
        brain_path: on_head_grid(values, np.float32) * SCALE,
        written["brain_mask"]: brain_on_head.astype(np.uint8),
        written["labels"]: on_head_grid(labels, np.int16),
    }
    for path, data in arrays.items():
        image = nib.Nifti1Image(data, head.affine)
        image.header.set_xyzt_units("mm")
        partial = path.with_name(f".{os.getpid()}.{path.name}")
        nib.save(image, partial)
        os.replace(partial, path)
    return written


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) not in (1, 2):
        sys.exit("usage: python -m brain_atrophy_demo.atlas OUT_DIR [CACHE_DIR]")
    for key, path in install(*argv).items():
        print(f"{key}: {path}")


if __name__ == "__main__":
    main()
