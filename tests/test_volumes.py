"""Label counting and region sums against independent counts."""

import numpy as np
import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.measure import volumes
from brain_atrophy.measure.volumes import label_counts, region_voxel_counts


def reference_counts(values):
    labels, counts = np.unique(np.asarray(values).astype(np.int64), return_counts=True)
    return {int(k): int(c) for k, c in zip(labels, counts, strict=True) if k != 0}


@pytest.mark.parametrize("dtype", ["uint8", "int16", "int32", "int64", "uint16", "float32"])
def test_counts_equal_unique(dtype):
    values = np.random.default_rng(1).integers(0, 120, 50_000).astype(dtype)
    assert label_counts(values) == reference_counts(values)


def test_counts_across_chunks(monkeypatch):
    monkeypatch.setattr(volumes, "CHUNK", 1000)
    rng = np.random.default_rng(2)
    # later chunks hold larger labels than earlier ones, and the reverse
    values = np.concatenate([rng.integers(0, 10, 3500), rng.integers(0, 3000, 3500), rng.integers(0, 5, 10)])
    assert label_counts(values.astype(np.int32)) == reference_counts(values)


def test_very_large_labels_are_counted_sparsely():
    values = np.array([0, 5, 2**30, 2**30, 7, 5], dtype=np.int64)
    assert label_counts(values) == {5: 2, 7: 1, 2**30: 2}


def test_integral_float_labels_are_accepted():
    assert label_counts(np.array([0.0, 2.0, 2.0, 41.0], dtype=np.float32)) == {2: 2, 41: 1}


@pytest.mark.parametrize("bad", [0.5, np.nan, np.inf])
def test_non_integral_or_non_finite_labels_are_refused(bad):
    values = np.array([0.0, 2.0, bad], dtype=np.float32)
    with pytest.raises(InputError, match="non-integral|NaN or infinite") as err:
        label_counts(values, "scan.nii.gz")
    assert "scan.nii.gz" in str(err.value)


def test_negative_labels_are_refused():
    with pytest.raises(InputError, match="negative"):
        label_counts(np.array([0, -3, 4], dtype=np.int16))


def test_region_sums_ignore_absent_labels():
    counts = {2: 10, 3: 5, 41: 7}
    regions = {"wm": (2, 41, 77), "ctx": (3, 42), "none": (99,)}
    assert region_voxel_counts(counts, regions) == {"wm": 17, "ctx": 5, "none": 0}
