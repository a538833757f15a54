"""Every region preset on label images written in its segmenter's own label scheme."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from helpers import write_image

from brain_atrophy.inputs.regions import read_region_table
from brain_atrophy.measure.subject import session_volumes

PRESETS = Path(__file__).resolve().parents[1] / "config" / "regions"
ASEG = [
    2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 26, 28, 30, 31, 41, 42, 43, 44, 46, 47, 49,
    50, 51, 52, 53, 54, 58, 60, 62, 63, 72, 77, 85, 251, 252, 253, 254, 255,
]  # fmt: skip
SYNTHSEG = [
    2, 3, 4, 5, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17, 18, 24, 26, 28, 41, 42, 43, 44, 46, 47, 49, 50, 51,
    52, 53, 54, 58, 60,
]  # fmt: skip
WITHOUT_CORTEX = [x for x in ASEG if x not in (3, 42)]
SCHEMES = {
    # scheme: (preset, the labels a segmentation of that kind contains)
    "freesurfer aseg": ("freesurfer", ASEG),
    "freesurfer aparc+aseg": ("freesurfer", WITHOUT_CORTEX + [*range(1000, 1036), *range(2000, 2036)]),
    "synthseg": ("synthseg", SYNTHSEG),
    "synthseg --parc": (
        "synthseg",
        [x for x in SYNTHSEG if x not in (3, 42)] + [*range(1001, 1036), *range(2001, 2036)],
    ),
    "fastsurfer aparc.DKTatlas+aseg": (
        "fastsurfer",
        WITHOUT_CORTEX + [*range(1002, 1036), *range(2002, 2036)],
    ),
    "fsl first": ("fsl_first", [10, 11, 12, 13, 16, 17, 18, 26, 49, 50, 51, 52, 53, 54, 58]),
}
STANDARD = {"whole_brain", "white_matter", "cortical_gray_matter", "thalamus", "cerebellum"}


@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_preset_measures_its_scheme(tmp_path, scheme):
    preset, labels = SCHEMES[scheme]
    rng = np.random.default_rng(len(scheme))
    data = rng.choice(np.array([0, *labels]), size=(30, 34, 28)).astype(np.int16)
    affine = np.diag([0.9, -1.1, 1.2, 1.0])
    path = write_image(tmp_path / "sub-1_ses-1_dseg.nii.gz", data, affine)
    regions = read_region_table(PRESETS / f"{preset}.tsv")
    measured = {row["region"]: row for row in session_volumes(path, regions)}
    stored = nib.load(path).get_fdata()
    for name, codes in regions.items():
        expected = int(np.isin(stored, codes).sum())
        assert measured[name]["n_voxels"] == expected
        assert measured[name]["volume_mm3"] == pytest.approx(expected * 0.9 * 1.1 * 1.2)
        assert expected > 0, f"{preset}: region {name} cannot be formed from {scheme}"
    if preset == "fsl_first":
        assert set(regions) & STANDARD == {"thalamus"}  # the others cannot be formed from FIRST
    else:
        assert STANDARD <= set(regions)
    # no region of a preset counts ventricles or CSF
    assert not any({4, 5, 14, 15, 24, 43, 44} & set(codes) for codes in regions.values())
