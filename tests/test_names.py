"""BIDS file names: the one parser, and the source-scan entities."""

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.names import (
    check_label,
    image_entities,
    parse_name,
    source_entities,
    source_t1w_stem,
    subject_label,
)


def test_parse_name():
    assert parse_name("sub-1_ses-a_run-2_T1w.nii.gz") == (
        {"sub": "1", "ses": "a", "run": "2"},
        "T1w",
        ".nii.gz",
    )
    assert parse_name("T1w.json") == ({}, "T1w", ".json")
    assert parse_name("acq-mprage_T1w.json") == ({"acq": "mprage"}, "T1w", ".json")
    assert parse_name(".DS_Store") is None
    assert parse_name("sub-1_sub-2_T1w.json") is None
    assert parse_name("sub-1_notes_T1w.json") is None


def test_image_entities():
    assert image_entities("sub-01_ses-a_desc-aseg_dseg.nii.gz", "dseg") == {
        "sub": "01",
        "ses": "a",
        "desc": "aseg",
    }
    assert image_entities("sub-01_ses-a_dseg.json", "dseg") is None
    assert image_entities("sub-01_ses-a_T1w.nii.gz", "dseg") is None
    assert image_entities("sub-01_ses-a_desc-a_desc-b_dseg.nii.gz", "dseg") is None  # an entity twice


def test_source_entities_in_bids_order_from_a_name_or_entities():
    name = "sub-1_ses-2_run-2_inv-1_acq-mp2rage_echo-1_space-orig_desc-aseg_dseg.nii.gz"
    assert list(source_entities(name).items()) == [
        ("acq", "mp2rage"),
        ("run", "2"),
        ("echo", "1"),
        ("inv", "1"),
    ]
    assert source_entities({"sub": "1", "part": "mag", "desc": "x"}) == {"part": "mag"}


def test_labels_outside_bids_characters_name_where():
    assert subject_label("sub-01", "here") == "01"
    with pytest.raises(InputError, match="participants.tsv.*'0_1'"):
        subject_label("sub-0_1", "participants.tsv")
    with pytest.raises(InputError, match="session label 'a b'"):
        check_label("session", "a b", "x")


@pytest.mark.parametrize(
    "name, stem",
    [
        ("sub-1_ses-2_desc-aseg_dseg.nii.gz", "sub-1_ses-2_T1w"),
        ("sub-1_ses-2_acq-mp2rage_run-2_space-orig_desc-aseg_dseg.nii", "sub-1_ses-2_acq-mp2rage_run-2_T1w"),
        ("aseg.mgz", None),
    ],
)
def test_the_raw_t1w_a_segmentation_came_from(name, stem):
    assert source_t1w_stem(f"/x/{name}") == stem
