"""Volumes from tissue probability maps (partial-volume segmentations).

A tissue map holds, per voxel, the fraction of the voxel that is the tissue: BIDS ``probseg``
(fMRIPrep ``label-GM_probseg``), FSL FAST ``*_pve_1``, CAT12 ``p1*``; a tissue's volume is
Σ value × voxel volume. Modulated template-space maps (CAT12 ``mwp1*``) carry the Jacobian in
their values, so the same sum gives the native volume (values may then exceed 1).

A region is one or more tissues (summed), optionally restricted to labels of an atlas (one
label image for every session). An atlas on another grid in the same world space
(template-space data) is resampled to the map's grid with nilearn, nearest neighbour, and the
log says so.
"""

from __future__ import annotations

import logging

import numpy as np

from ..errors import InputError
from .images import StoredImage, describe_grid, read_image, same_grid
from .volumes import as_integer_labels

log = logging.getLogger(__name__)

# values this far below 0 are not rounding: the file is not a probability map
NEGATIVE_TOLERANCE = 1e-3


def probabilities(image: StoredImage, source) -> np.ndarray:
    """The map's values as float32 (memory: 4 bytes a voxel); NaN, inf or negative values are
    an InputError naming ``source``."""
    values = np.asarray(image.voxels, dtype=np.float32)
    if not np.all(np.isfinite(values)):
        raise InputError(source, "tissue map holds NaN or infinite values")
    low = float(values.min()) if values.size else 0.0
    if low < -NEGATIVE_TOLERANCE:
        raise InputError(source, f"tissue map holds negative values (min {low:.3g}): not a probability map")
    high = float(values.max()) if values.size else 0.0
    if high > 1 + NEGATIVE_TOLERANCE:
        log.info("%s: values up to %.3g (a modulated map: volumes are Σ value × voxel volume)", source, high)
    return values


def tissue_volume(
    values: np.ndarray, voxel_mm3: float, mask: np.ndarray | None = None
) -> tuple[float, float]:
    """(volume in mm³, effective voxel count Σ value) of a tissue map, within ``mask`` if given."""
    chosen = values if mask is None else values[mask]
    effective = float(np.sum(chosen, dtype=np.float64))
    return effective * voxel_mm3, effective


def world_bounds(shape, affine) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest world coordinates (mm) of a grid's corner voxels."""
    corners = np.array(
        [[i, j, k, 1.0] for i in (0, shape[0] - 1) for j in (0, shape[1] - 1) for k in (0, shape[2] - 1)]
    )
    world = corners @ np.asarray(affine, dtype=float).T
    return world[:, :3].min(axis=0), world[:, :3].max(axis=0)


def read_atlas(path) -> StoredImage:
    """The atlas as integer labels (float storage accepted when integral); negative labels are
    an InputError, like non-integral ones."""
    atlas = read_image(path)
    labels = as_integer_labels(atlas.voxels, path)
    if labels.size and int(labels.min()) < 0:
        raise InputError(path, f"atlas holds negative labels (min {int(labels.min())})")
    return StoredImage(voxels=labels, shape=atlas.shape, affine=atlas.affine)


def atlas_on_grid(atlas_path, atlas: StoredImage, target: StoredImage, target_path) -> np.ndarray:
    """The atlas labels (flattened, file order) on ``target``'s grid: as stored when the grids
    agree, else resampled with nilearn (nearest neighbour, so labels stay labels)."""
    if same_grid(atlas, target):
        return atlas.voxels
    atlas_low, atlas_high = world_bounds(atlas.shape, atlas.affine)
    target_low, target_high = world_bounds(target.shape, target.affine)
    if np.any(atlas_high < target_low) or np.any(target_high < atlas_low):
        raise InputError(
            atlas_path,
            f"atlas does not overlap {target_path} in world coordinates: the two are not in the same space",
        )
    import nibabel as nib
    from nilearn.image import resample_to_img  # ~3 s to import: only when resampling

    source = nib.Nifti1Image(atlas.voxels.reshape(atlas.shape, order="F"), atlas.affine)
    grid = nib.Nifti1Image(np.zeros(target.shape, dtype=np.uint8), target.affine)
    resampled = resample_to_img(source, grid, interpolation="nearest", force_resample=True, copy_header=True)
    log.info(
        "atlas %s (%s) resampled to the grid of %s (%s) with nilearn, nearest neighbour",
        atlas_path,
        describe_grid(atlas),
        target_path,
        describe_grid(target),
    )
    return np.asarray(resampled.dataobj).astype(atlas.voxels.dtype, copy=False).reshape(-1, order="F")


def in_labels(atlas: np.ndarray, labels: tuple[int, ...]) -> np.ndarray:
    """Boolean mask of the atlas voxels whose label is in ``labels`` (a lookup table: one
    gather instead of np.isin's sort)."""
    top = max(int(atlas.max()) if atlas.size else 0, max(labels))
    lookup = np.zeros(top + 1, dtype=bool)
    lookup[list(labels)] = True
    return lookup[atlas]


def session_tissue_volumes(
    maps: dict[str, str],
    regions: dict[str, tuple[tuple[str, ...], tuple[int, ...] | None]],
    atlas_path=None,
    atlas_cache=None,
) -> tuple[list[dict], StoredImage]:
    """Every region's volume in one session from its tissue maps ({tissue: path}); also a
    label image of the session (tissue k+1 where that map exceeds 0.5) for the QC mosaic."""
    atlas_cache = {} if atlas_cache is None else atlas_cache
    values, grid = read_tissue_maps(maps)
    first_tissue = next(iter(maps))
    atlas = None
    if any(labels is not None for _, labels in regions.values()):
        if atlas_path is None:
            raise InputError(
                "config", "the region table restricts tissues to atlas labels but no 'atlas' is set"
            )
        key = (grid.shape, grid.affine.tobytes())
        if key not in atlas_cache:
            atlas_cache[key] = atlas_on_grid(atlas_path, read_atlas(atlas_path), grid, maps[first_tissue])
        atlas = atlas_cache[key]
    voxel_mm3 = grid.voxel_volume_mm3
    total_mm3 = sum(tissue_volume(v, voxel_mm3)[0] for v in values.values())
    rows = []
    for name, (chosen, labels) in regions.items():
        mask = None if labels is None else in_labels(atlas, labels)
        volume = effective = 0.0
        for tissue in chosen:
            tissue_mm3, tissue_voxels = tissue_volume(values[tissue], voxel_mm3, mask)
            volume, effective = volume + tissue_mm3, effective + tissue_voxels
        rows.append(
            {
                "region": name,
                "method": "labels",
                "volume_mm3": volume,
                "n_voxels": round(effective),
                "labelled_mm3": total_mm3,
                "voxel_mm3": voxel_mm3,
            }
        )
    return rows, dominant_tissue(list(values.values()), grid)


def dominant_tissue(values: list[np.ndarray], grid: StoredImage) -> StoredImage:
    """A label image of the maps for the QC mosaic: k+1 where map k exceeds 0.5."""
    dominant = np.zeros(grid.voxels.size, dtype=np.uint8)
    for k, tissue_values in enumerate(values):
        dominant[tissue_values > 0.5] = k + 1
    return StoredImage(voxels=dominant, shape=grid.shape, affine=grid.affine)


def read_tissue_maps(maps: dict[str, str]) -> tuple[dict[str, np.ndarray], StoredImage]:
    """({tissue: values}, the shared grid) of one session's maps ({tissue: path}); maps on
    different grids, or values that are not probabilities, are InputErrors."""
    images = {tissue: read_image(path) for tissue, path in maps.items()}
    first_tissue = next(iter(images))
    grid = images[first_tissue]
    for tissue, image in images.items():
        if not same_grid(image, grid):
            raise InputError(
                maps[tissue],
                f"tissue map grid ({describe_grid(image)}) differs from that of "
                f"{maps[first_tissue]} ({describe_grid(grid)})",
            )
    return {tissue: probabilities(image, maps[tissue]) for tissue, image in images.items()}, grid


def read_dominant_tissue(maps: dict[str, str]) -> StoredImage:
    """The QC mosaic's label image of one session's maps ({tissue: path}, in tissue order)."""
    values, grid = read_tissue_maps(maps)
    return dominant_tissue(list(values.values()), grid)
