"""Colin27 with its AAL labels as a planted-change source (brain_atrophy_demo.colin27): the AAL
codes become FreeSurfer's on the right side, white matter is added from intensity, nothing
lies outside the brain, and a pair made from it carries the planted loss."""

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import require_or_skip

from brain_atrophy_demo import colin27, deform


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    require_or_skip(
        (colin27.DIRECTORY / colin27.T1W).is_file(),
        "Debian's mricron-data (Colin27 and AAL) is not installed",
        "BRAIN_ATROPHY_REQUIRE_COLIN27",
    )
    return colin27.load_source(tmp_path_factory.mktemp("colin27"))


def test_aal_codes_become_freesurfer_codes_by_side():
    aal = np.array([77, 78, 1, 2, 91, 109, 0, 0, 0], np.int16)
    t1w = np.array([97, 97, 88, 88, 83, 83, 113, 40, 0], np.float32)
    left = np.array([True, False, True, False, True, False, True, True, True])
    labels = colin27.freesurfer_labels(aal, t1w, left, white_level=113.0)
    # thalamus, cortex, cerebellum (vermis by its side), white matter; dark unlabelled brain and
    # the background stay 0
    assert labels.tolist() == [10, 49, 3, 42, 8, 47, 2, 0, 0]


def test_labels_outside_the_brain_are_dropped():
    aal = np.array([77, 77], np.int16)
    labels = colin27.freesurfer_labels(aal, np.array([97, 0], np.float32), np.array([True, True]), 113.0)
    assert labels.tolist() == [10, 0]


def test_source_is_one_brain_with_its_regions(source):
    image = nib.load(source.template_path)
    assert np.allclose(image.affine, source.atlas_affine)
    t1w = image.get_fdata(dtype=np.float32)
    assert not (source.atlas[t1w <= 0]).any()
    white = np.isin(source.atlas, (2, 41))
    assert np.median(t1w[white]) == pytest.approx(deform.WM_LEVEL, rel=0.03)
    ml = {name: np.isin(source.atlas, codes).sum() / 1000 for name, codes in source.regions.items()}
    assert 14 < ml["thalamus"] < 20  # AAL's thalami on this brain: 17.1 ml
    assert 150 < ml["cerebellum"] < 200
    left_thalamus = np.argwhere(source.atlas == 10).mean(axis=0)
    right_thalamus = np.argwhere(source.atlas == 49).mean(axis=0)
    x_left, x_right = (
        (source.atlas_affine @ np.r_[left_thalamus, 1])[0],
        (source.atlas_affine @ np.r_[right_thalamus, 1])[0],
    )
    assert x_left < 0 < x_right


def test_a_planted_pair_from_colin27_carries_its_loss(source):
    simulation = deform.simulate_pair(
        Path("unused"), voxel_mm=3.0, shrink={"thalamus": 0.03}, seed=4, source=source
    )
    assert simulation.pair.truth["thalamus"] == pytest.approx(-0.03, abs=1e-4)
    # the follow-up's labels, pulled through the planted map, count about that loss on the 1 mm anatomy
    labels = deform.deformed_labels(source, simulation.subject, simulation.anatomy, simulation.atrophy)
    before = np.isin(simulation.anatomy.labels, (10, 49)).sum()
    after = np.isin(labels, (10, 49)).sum()
    assert after / before - 1 == pytest.approx(-0.03, abs=0.006)
