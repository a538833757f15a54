"""Label images brought onto their T1w's grid by the images' affines (nearest neighbour), for
labels made on another grid of the same world space (FreeSurfer's conformed 256³ space)."""

from __future__ import annotations

import numpy as np

from ..errors import InputError


def labels_on_grid(
    labels: np.ndarray, labels_affine: np.ndarray, shape, affine: np.ndarray, sources
) -> np.ndarray:
    """``labels`` (on ``labels_affine``) sampled at every voxel centre of the grid (``shape``,
    ``affine``) by nearest neighbour; no labelled voxel landing on that grid is an InputError
    naming both files (``sources``: label image, T1w)."""
    labels = np.asarray(labels)
    if labels.shape == tuple(shape) and np.allclose(labels_affine, affine, atol=1e-3):
        return labels
    to_labels = np.linalg.inv(labels_affine) @ affine
    grid = np.indices(tuple(shape), dtype=np.float32).reshape(3, -1)
    index = np.rint(to_labels[:3, :3] @ grid + to_labels[:3, 3:4]).astype(np.int64)
    inside = np.all((index >= 0) & (index < np.array(labels.shape)[:, None]), axis=0)
    out = np.zeros(grid.shape[1], dtype=labels.dtype)
    out[inside] = labels[tuple(index[:, inside])]
    out = out.reshape(tuple(shape))
    if not out.any():
        raise InputError(
            sources[0],
            f"no labelled voxel overlaps the T1w {sources[1]}: the labels are not in its world space",
        )
    return out
