"""Colin27 as a source of planted-change pairs: one person's T1w (an average of 27 scans of one
man) with the AAL atlas drawn on it, both on one 1 mm grid. Debian's ``mricron-data`` package
ships them (/usr/share/mricron/templates; BSD-3-clause). An averaged template blurs deep grey
matter; this is one brain, at the contrast a study's scans have.

AAL labels grey matter only. Its codes become FreeSurfer's (config/regions/freesurfer.tsv), left
and right by the side of the midline; the unlabelled brain at white matter's intensity becomes
white matter; labels outside the skull-stripped brain are dropped (AAL runs past it in places).
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

from . import deform

DIRECTORY = Path("/usr/share/mricron/templates")
T1W, ATLAS = "ch2bet.nii.gz", "aal.nii.gz"
# (left AAL code, right AAL code) → (left FreeSurfer code, right FreeSurfer code); AAL 1-90
# not listed here are cortex (3, 42), 91-116 cerebellum and vermis (8, 47)
SUBCORTICAL = {
    (37, 38): (17, 53),  # hippocampus
    (41, 42): (18, 54),  # amygdala
    (71, 72): (11, 50),  # caudate
    (73, 74): (12, 51),  # putamen
    (75, 76): (13, 52),  # pallidum
    (77, 78): (10, 49),  # thalamus
}
LAST_CORTEX, FIRST_CEREBELLUM = 90, 91
# ch2bet's stored values: unlabelled brain above this is white matter (thalamus median 97,
# cortex 88, white matter 113); its median sets white matter to deform.WM_LEVEL
WHITE_MATTER_MIN = 100
WHITE_MATTER_FRACTION = 0.7  # unlabelled brain above this share of white matter's level is white matter


def freesurfer_labels(aal: np.ndarray, t1w: np.ndarray, left: np.ndarray, white_level: float) -> np.ndarray:
    """AAL codes as FreeSurfer codes (uint8), white matter added, nothing outside the brain."""
    labels = np.zeros(aal.shape, np.uint8)

    def assign(where, codes):
        labels[where] = np.where(left, codes[0], codes[1])[where]

    subcortical = np.isin(aal, [code for pair in SUBCORTICAL for code in pair])
    assign((aal >= 1) & (aal <= LAST_CORTEX) & ~subcortical, (3, 42))
    for pair, codes in SUBCORTICAL.items():
        assign(np.isin(aal, pair), codes)
    assign(aal >= FIRST_CEREBELLUM, (8, 47))
    assign((t1w > 0) & (aal == 0) & (t1w >= WHITE_MATTER_FRACTION * white_level), (2, 41))
    labels[t1w <= 0] = 0
    return labels


def load_source(cache_dir, directory: Path = DIRECTORY) -> deform.Source:
    """The Colin27 source, like :func:`brain_atrophy_demo.deform.load_source`'s; its T1w scaled so
    that white matter is deform.WM_LEVEL, written once into ``cache_dir``."""
    t1w_path, atlas_path = Path(directory) / T1W, Path(directory) / ATLAS
    for path in (t1w_path, atlas_path):
        if not path.is_file():
            raise FileNotFoundError(f"{path}: not found (Debian: apt-get install mricron-data)")
    t1w_image, atlas_image = nib.load(t1w_path), nib.load(atlas_path)
    if t1w_image.shape != atlas_image.shape or not np.allclose(t1w_image.affine, atlas_image.affine):
        raise ValueError(f"{atlas_path} is not on the grid of {t1w_path}")
    t1w = t1w_image.get_fdata(dtype=np.float32)
    aal = np.asarray(atlas_image.dataobj).astype(np.int16)
    white_level = float(np.median(t1w[(t1w > 0) & (aal == 0) & (t1w >= WHITE_MATTER_MIN)]))
    scaled = Path(cache_dir) / "colin27_T1w.nii.gz"
    if not scaled.is_file():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        partial = scaled.with_name(f".{scaled.name}")
        nib.save(nib.Nifti1Image(t1w * np.float32(deform.WM_LEVEL / white_level), t1w_image.affine), partial)
        partial.replace(scaled)
    i, j, k = np.ogrid[: aal.shape[0], : aal.shape[1], : aal.shape[2]]
    row = atlas_image.affine[0]
    left = row[0] * i + row[1] * j + row[2] * k + row[3] < 0  # x < 0: the left hemisphere (RAS)
    labels = freesurfer_labels(aal, t1w, left, white_level)
    labelled = deform.apply_affine(atlas_image.affine, np.argwhere(labels > 0).astype(float))
    _, _, template_box = deform._template_crop(str(scaled))
    low = np.minimum(labelled.min(axis=0), template_box[0])
    high = np.maximum(labelled.max(axis=0), template_box[1])
    regions = deform.load_regions(deform.REGION_TABLE)
    box = (low, high)
    centre = labelled.mean(axis=0)
    return deform.Source(str(scaled), labels, atlas_image.affine, regions, centre, box, None, box)
