"""QC mosaic geometry: slices go through the centre of the labelled voxels."""

import numpy as np

from brain_atrophy.measure.mosaic import centre_slices, labelled_centre, outline


def test_labelled_centre_is_the_centre_of_mass_of_nonzero_voxels():
    rng = np.random.default_rng(3)
    labels = np.zeros((30, 41, 25), dtype=np.int16)
    labels[5:20, 10:39, 3:9] = rng.integers(1, 5, size=(15, 29, 6))
    expected = [int(np.mean(axis)) for axis in np.nonzero(labels)]
    assert labelled_centre(labels) == expected


def test_labelled_centre_of_an_empty_image_is_the_grid_centre():
    assert labelled_centre(np.zeros((10, 20, 31), dtype=np.uint8)) == [5, 10, 15]


def test_centre_slices_cut_through_the_labelled_block():
    labels = np.zeros((20, 20, 20), dtype=np.uint8)
    labels[2:6, 12:16, 8:10] = 7
    axial, coronal, sagittal = centre_slices(labels)
    assert axial.shape == (20, 20) and coronal.shape == (20, 20) and sagittal.shape == (20, 20)
    assert all((plane == 7).sum() > 0 for plane in (axial, coronal, sagittal))


def test_outline_keeps_only_the_border_of_a_mask():
    mask = np.zeros((7, 7), dtype=bool)
    mask[1:6, 1:6] = True
    edge = outline(mask)
    assert edge.sum() == 16 and not edge[3, 3]
