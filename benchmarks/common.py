"""Helpers shared by the benchmarks: timing medians and realistic label maps."""

import statistics
import sys
import time
from pathlib import Path

import nibabel as nib
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from brain_atrophy_demo.demo import fetch_atlas  # noqa: E402


def median_seconds(function, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def freesurfer_like_256(parcellate_cortex: bool) -> np.ndarray:
    """The IBSR label atlas (FreeSurfer codes) centred in a 256³ conformed grid; with
    ``parcellate_cortex`` its cortex (3/42) is split into 35 parcels per hemisphere coded
    1001–1035 / 2001–2035, like aparc+aseg."""
    atlas = np.asarray(nib.load(fetch_atlas(REPO / ".cache")).dataobj).astype(np.int32)
    labels = np.zeros((256, 256, 256), dtype=np.int32)
    offset = [(256 - n) // 2 for n in atlas.shape]
    labels[tuple(slice(o, o + n) for o, n in zip(offset, atlas.shape, strict=True))] = atlas
    if parcellate_cortex:
        y, z = np.indices((256, 256))[0][None], np.indices((256, 256))[1][None]
        parcel = 1 + ((y // 37) * 5 + (z // 52)) % 35
        parcel = np.broadcast_to(parcel, labels.shape)
        labels = np.where(labels == 3, 1000 + parcel, np.where(labels == 42, 2000 + parcel, labels))
    return labels
