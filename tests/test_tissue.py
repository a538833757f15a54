"""Tissue probability maps: volumes as Σ probability × voxel volume, atlas restriction (with
nilearn resampling across grids), discovery under BIDS, FSL FAST and CAT12 names, bad maps."""

import logging

import nibabel as nib
import numpy as np
import pytest
from helpers import write_image

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.discovery import find_tissue_maps
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.measure.images import read_image
from brain_atrophy.measure.tissue import atlas_on_grid, session_tissue_volumes, tissue_volume

MAP_AFFINE = np.array([[1.0, 0, 0, -20], [0, 1.0, 0, -24], [0, 0, 1.0, -16], [0, 0, 0, 1]])


@pytest.fixture
def maps(tmp_path):
    """GM and WM maps on a 40×48×32 grid of 1 mm: GM 0.25 in a shell, WM 0.75 in a block."""
    gm = np.zeros((40, 48, 32), dtype=np.float32)
    wm = np.zeros_like(gm)
    gm[4:36, 4:44, 4:28] = 0.25
    wm[10:30, 12:36, 8:24] = 0.75
    return {
        "GM": write_image(tmp_path / "sub-01_ses-1_label-GM_probseg.nii.gz", gm, MAP_AFFINE),
        "WM": write_image(tmp_path / "sub-01_ses-1_label-WM_probseg.nii.gz", wm, MAP_AFFINE),
    }


def test_volume_is_the_sum_of_probabilities_times_the_voxel_volume():
    values = np.array([0.0, 0.5, 1.0, 0.25], dtype=np.float32)
    assert tissue_volume(values, 2.0) == (3.5, 1.75)
    assert tissue_volume(values, 2.0, np.array([False, True, True, False])) == (3.0, 1.5)


def test_regions_sum_tissues_and_may_restrict_them_to_atlas_labels(tmp_path, maps, caplog):
    # the atlas: a 2 mm grid over the same world space, label 7 on the half x < 0 mm
    atlas = np.zeros((20, 24, 16), dtype=np.int16)
    atlas[:10] = 7
    atlas_affine = np.diag([2.0, 2.0, 2.0, 1.0])
    atlas_affine[:3, 3] = MAP_AFFINE[:3, 3] + 0.5
    atlas_path = write_image(tmp_path / "atlas.nii.gz", atlas, atlas_affine)
    table = tmp_path / "regions.tsv"
    table.write_text("region\ttissue\tlabels\nbrain\tGM WM\t\ngm_left\tGM\t7\n")
    regions = load_regions(table, tissues=["GM", "WM"])
    assert regions == {"brain": (("GM", "WM"), None), "gm_left": (("GM",), (7,))}
    with caplog.at_level(logging.INFO):
        rows, dominant = session_tissue_volumes({k: str(v) for k, v in maps.items()}, regions, atlas_path)
    by_region = {row["region"]: row for row in rows}
    gm = np.asanyarray(nib.load(maps["GM"]).dataobj)
    wm = np.asanyarray(nib.load(maps["WM"]).dataobj)
    assert by_region["brain"]["volume_mm3"] == pytest.approx(float(gm.sum() + wm.sum()))
    # world x < 0 is voxel i < 20 on the map grid: the resampled atlas covers exactly that half
    assert by_region["gm_left"]["volume_mm3"] == pytest.approx(float(gm[:20].sum()))
    assert "resampled to the grid of" in caplog.text and "nearest neighbour" in caplog.text
    assert dominant.shape == (40, 48, 32) and set(np.unique(dominant.voxels)) == {0, 2}


def test_an_atlas_elsewhere_in_the_world_is_refused(tmp_path, maps):
    far = np.diag([2.0, 2.0, 2.0, 1.0])
    far[:3, 3] = 500.0
    atlas_path = write_image(tmp_path / "atlas.nii.gz", np.ones((4, 4, 4), dtype=np.int16), far)
    with pytest.raises(InputError, match="not in the same space"):
        atlas_on_grid(atlas_path, read_image(atlas_path), read_image(maps["GM"]), maps["GM"])


@pytest.mark.parametrize(
    "value, fault", [(np.nan, "NaN or infinite"), (-0.5, "negative values")], ids=["nan", "negative"]
)
def test_a_map_that_is_not_a_probability_map_is_refused(tmp_path, maps, value, fault):
    data = np.asanyarray(nib.load(maps["WM"]).dataobj).copy()
    data[20, 20, 20] = value
    write_image(maps["WM"], data, MAP_AFFINE)
    regions = {"wm": (("WM",), None)}
    with pytest.raises(InputError, match=fault) as caught:
        session_tissue_volumes({k: str(v) for k, v in maps.items()}, regions)
    assert str(maps["WM"]) in str(caught.value)


def test_unknown_tissue_in_the_region_table(tmp_path):
    table = tmp_path / "regions.tsv"
    table.write_text("region\ttissue\ncsf\tCSF\n")
    with pytest.raises(InputError, match="tissue CSF is not one of the configured maps"):
        load_regions(table, tissues=["GM", "WM"])


@pytest.mark.parametrize(
    "names, patterns",
    [
        (["sub-01_ses-1_label-GM_probseg.nii.gz", "sub-01_ses-1_label-WM_probseg.nii.gz"],
         {"GM": "*_label-GM_probseg.nii*", "WM": "*_label-WM_probseg.nii*"}),
        (["T1_pve_0.nii.gz", "T1_pve_1.nii.gz", "T1_pve_2.nii.gz"],
         {"GM": "*_pve_1.nii*", "WM": "*_pve_2.nii*"}),
        (["p1sub-01_ses-1_T1w.nii", "p2sub-01_ses-1_T1w.nii", "mwp1sub-01_ses-1_T1w.nii"],
         {"GM": "p1*.nii", "WM": "p2*.nii"}),
    ],
    ids=["bids-probseg", "fsl-fast", "cat12"],
)  # fmt: skip
def test_discovery_of_tissue_maps(tmp_path, names, patterns):
    anat = tmp_path / "sub-01" / "ses-1" / "anat"
    anat.mkdir(parents=True)
    for name in names:
        (anat / name).write_bytes(b"")
    found = find_tissue_maps(tmp_path, patterns)
    assert list(found["01"]["1"]) == list(patterns)
    assert all(found["01"]["1"][t].startswith(str(anat)) for t in patterns)


def test_a_float_atlas_with_integral_labels_is_used_and_a_negative_one_refused(tmp_path, maps):
    atlas = np.zeros((40, 48, 32), dtype=np.float32)
    atlas[:20] = 7.0
    good = write_image(tmp_path / "atlas.nii.gz", atlas, MAP_AFFINE)
    regions = {"gm_left": (("GM",), (7,))}
    rows, _ = session_tissue_volumes({k: str(v) for k, v in maps.items()}, regions, good)
    gm = np.asanyarray(nib.load(maps["GM"]).dataobj)
    assert rows[0]["volume_mm3"] == pytest.approx(float(gm[:20].sum()))
    atlas[0, 0, 0] = -3.0
    bad = write_image(tmp_path / "negative.nii.gz", atlas, MAP_AFFINE)
    with pytest.raises(InputError, match="atlas holds negative labels"):
        session_tissue_volumes({k: str(v) for k, v in maps.items()}, regions, bad)
