"""Region volumes from one pass over the voxels: a label histogram, then sums of counts."""

from __future__ import annotations

import numpy as np

from ..errors import InputError

# Voxels are counted in chunks so that the int64 copy np.bincount makes stays small
# (8 bytes × CHUNK) whatever the image size.
CHUNK = 1 << 22
# Above this label value a dense histogram would waste memory: count unique values instead.
MAX_DENSE_LABEL = 1 << 24


def as_integer_labels(chunk: np.ndarray, source) -> np.ndarray:
    """Integer labels of one chunk; float storage is accepted only when every value is integral."""
    if chunk.dtype.kind in "iu":
        return chunk if chunk.dtype.isnative else chunk.astype(chunk.dtype.newbyteorder("="))
    if chunk.dtype.kind != "f":
        raise InputError(source, f"label image has unsupported data type {chunk.dtype}")
    with np.errstate(invalid="ignore"):  # NaN/inf cast to garbage, caught just below
        as_int = chunk.astype(np.int64)
    if not np.array_equal(as_int, chunk):  # one comparison checks integral and finite at once
        if not np.all(np.isfinite(chunk)):
            raise InputError(source, "label image holds NaN or infinite values")
        bad = float(chunk[as_int != chunk][0])
        raise InputError(
            source,
            f"label image holds non-integral values (e.g. {bad!r}): "
            "a probability map or an interpolated segmentation, not discrete labels",
        )
    return as_int


def label_counts(voxels: np.ndarray, source="label image") -> dict[int, int]:
    """Number of voxels of every non-zero label, in a single pass over ``voxels``.

    Only the labelled voxels are converted and counted: most of a label image is background
    (two thirds of a cropped 1 mm head, nine tenths of a 256³ FreeSurfer volume), and
    selecting the rest first makes the count 3-4× faster than a histogram of every voxel."""
    totals: dict[int, int] = {}
    dense = None
    for start in range(0, voxels.size, CHUNK):
        chunk = voxels[start : start + CHUNK]
        labels = as_integer_labels(chunk[chunk != 0], source)  # NaN != 0: it is kept, and refused
        if labels.size == 0:
            continue
        # 8- and 16-bit labels need no range pass: unsigned ones cannot be negative, and none
        # can exceed a dense histogram's limit
        small = labels.dtype.itemsize <= 2
        low = 0 if small and labels.dtype.kind == "u" else int(labels.min())
        if low < 0:
            raise InputError(source, f"label image holds negative labels (min {low})")
        high = 0 if small else int(labels.max())
        if high <= MAX_DENSE_LABEL:
            counts = np.bincount(labels)
            if dense is None:
                dense = counts
            elif counts.size > dense.size:
                counts[: dense.size] += dense
                dense = counts
            else:
                dense[: counts.size] += counts
        else:
            values, counts = np.unique(labels, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist(), strict=True):
                totals[value] = totals.get(value, 0) + count
    if dense is not None:
        for value in np.flatnonzero(dense).tolist():
            totals[value] = totals.get(value, 0) + int(dense[value])
    return totals


def region_voxel_counts(counts: dict[int, int], regions: dict[str, tuple[int, ...]]) -> dict[str, int]:
    """Voxels per region: the sum of its labels' counts (labels absent from the image count 0)."""
    return {name: sum(counts.get(label, 0) for label in labels) for name, labels in regions.items()}
