"""Input discovery over directories, sessions tables and dates."""

from datetime import datetime

import pytest

from brain_atrophy.bids import (
    find_label_images,
    find_session_images,
    parse_acq_time,
    parse_entities,
    read_sessions_table,
    session_dates,
    years_since_first,
)
from brain_atrophy.errors import InputError


def touch(root, relative):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_parse_entities():
    assert parse_entities("sub-01_ses-a_desc-aseg_dseg.nii.gz", "dseg") == {
        "sub": "01",
        "ses": "a",
        "desc": "aseg",
    }
    assert parse_entities("sub-01_ses-a_dseg.json", "dseg") is None
    assert parse_entities("sub-01_ses-a_T1w.nii.gz", "dseg") is None


def test_discovery_pairs_subjects_with_their_own_sessions(tmp_path):
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_dseg.nii.gz")
    touch(tmp_path, "sub-01/ses-2/anat/sub-01_ses-2_dseg.nii")
    touch(tmp_path, "sub-02/ses-1/anat/sub-02_ses-1_dseg.nii.gz")
    touch(tmp_path, "sub-02/ses-2/anat/sub-02_ses-2_T1w.nii.gz")  # no label image: no session
    touch(tmp_path, "sub-02/ses-3/anat/sub-01_ses-3_dseg.nii.gz")  # another subject's name
    found = find_label_images(tmp_path)
    assert found == {
        "01": {
            "1": str(tmp_path / "sub-01/ses-1/anat/sub-01_ses-1_dseg.nii.gz"),
            "2": str(tmp_path / "sub-01/ses-2/anat/sub-01_ses-2_dseg.nii"),
        },
        "02": {"1": str(tmp_path / "sub-02/ses-1/anat/sub-02_ses-1_dseg.nii.gz")},
    }


def test_filters_choose_among_several_label_images(tmp_path):
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_desc-aseg_dseg.nii.gz")
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_desc-aparcaseg_dseg.nii.gz")
    with pytest.raises(InputError, match="2 dseg images match"):
        find_label_images(tmp_path)
    found = find_label_images(tmp_path, {"desc": "aseg"})
    assert found["01"]["1"].endswith("desc-aseg_dseg.nii.gz")


def test_one_walk_finds_label_images_and_their_t1w(tmp_path):
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_dseg.nii.gz")
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_desc-preproc_T1w.nii.gz")
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_space-MNI152_desc-preproc_T1w.nii.gz")
    touch(tmp_path, "sub-01/ses-2/anat/sub-01_ses-2_dseg.nii.gz")  # no T1w: the mosaic uses the labels
    with pytest.raises(InputError, match="2 T1w images match.*'t1w_filters'"):
        find_session_images(tmp_path, {"dseg": {}, "T1w": {}})
    found = find_session_images(tmp_path, {"dseg": {}, "T1w": {"space": "orig"}})
    assert found["T1w"] == {} and set(found["dseg"]["01"]) == {"1", "2"}
    touch(tmp_path, "sub-01/ses-1/anat/sub-01_ses-1_space-orig_desc-preproc_T1w.nii.gz")
    found = find_session_images(tmp_path, {"dseg": {}, "T1w": {"space": "orig"}})
    assert found["T1w"] == {
        "01": {"1": str(tmp_path / "sub-01/ses-1/anat/sub-01_ses-1_space-orig_desc-preproc_T1w.nii.gz")}
    }


def test_non_bids_label_is_refused(tmp_path):
    touch(tmp_path, "sub-0_1/ses-1/anat/sub-0_1_ses-1_dseg.nii.gz")
    with pytest.raises(InputError, match=r"outside BIDS' \[a-zA-Z0-9\]"):
        find_label_images(tmp_path)


def test_missing_directory_finds_nothing(tmp_path):
    assert find_label_images(tmp_path / "absent") == {}


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2020-01-02T03:04:05", datetime(2020, 1, 2, 3, 4, 5)),
        ("2020-01-02", datetime(2020, 1, 2)),
        ("1925-05-06T10:00:00.000000Z", datetime(1925, 5, 6, 10)),
    ],
)
def test_acq_time_formats(text, expected):
    assert parse_acq_time(text) == expected


def test_sessions_table_and_years(tmp_path):
    path = tmp_path / "sub-01_sessions.tsv"
    path.write_text("session_id\tacq_time\tnote\nses-1\t2020-01-01T00:00:00\tx\n2\t2021-01-01\ty\n")
    table = read_sessions_table(path)
    years = years_since_first(session_dates(["1", "2"], table, path))
    assert years == {"1": 0.0, "2": pytest.approx(366 / 365.25)}


@pytest.mark.parametrize(
    "text, sessions, fault",
    [
        ("session_id\tacq_time\nses-1\tn/a\n", ["1"], "has no acq_time"),
        ("session_id\tacq_time\nses-1\tyesterday\n", ["1"], "not an ISO 8601 date"),
        ("session_id\tacq_time\nses-1\t2020-01-01\n", ["1", "2"], "no row for session 'ses-2'"),
        ("session_id\tacq_time\nses-1\t2020-01-01\nses-1\t2020-01-02\n", ["1"], "listed twice"),
        ("session_id\tdate\nses-1\t2020-01-01\n", ["1"], "lacks the column"),
        ("session_id\tacq_time\nses-1\t2020-01-01\nses-2\t2020-01-01\n", ["1", "2"], "the same acq_time"),
    ],
)
def test_sessions_table_faults(tmp_path, text, sessions, fault):
    path = tmp_path / "sub-01_sessions.tsv"
    path.write_text(text)
    with pytest.raises(InputError, match=fault) as err:
        session_dates(sessions, read_sessions_table(path), path)
    assert str(path) in str(err.value)


def test_sessions_out_of_label_order_are_timed_by_date(tmp_path):
    path = tmp_path / "sub-01_sessions.tsv"
    path.write_text("session_id\tacq_time\nses-2\t2021-01-01\nses-1\t2020-01-01\nses-3\t2020-07-02\n")
    years = years_since_first(session_dates(["1", "2", "3"], read_sessions_table(path), path))
    assert years["1"] == 0 and 0 < years["3"] < years["2"]
