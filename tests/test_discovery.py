"""Input discovery over directories and path patterns."""

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.discovery import (
    discover,
    find_freesurfer_long,
    find_label_images,
    find_pattern_images,
    find_session_images,
)


def touch(root, relative):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


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


def test_discovery_of_longitudinal_runs(tmp_path):
    for name in ("sub-01_ses-1.long.sub-01_base", "02_2.long.base02", "sub-01_ses-1", "sub-01_base"):
        touch(tmp_path, f"{name}/mri/aseg.mgz")
    found = find_freesurfer_long(tmp_path)
    assert found == {
        "01": {"1": str(tmp_path / "sub-01_ses-1.long.sub-01_base" / "mri" / "aseg.mgz")},
        "02": {"2": str(tmp_path / "02_2.long.base02" / "mri" / "aseg.mgz")},
    }


def test_synthseg_flat_folder_pattern(tmp_path):
    for name in ["sub-01_ses-1_T1w_synthseg.nii.gz", "sub-01_ses-2_T1w_synthseg.nii.gz",
                 "sub-02_ses-1_T1w_synthseg.nii.gz", "sub-02_ses-1_T1w.nii.gz", "notes.txt"]:  # fmt: skip
        touch(tmp_path, name)
    found = find_pattern_images(str(tmp_path / "sub-{subject}_ses-{session}_T1w_synthseg.nii.gz"))
    assert found == {
        "01": {"1": str(tmp_path / "sub-01_ses-1_T1w_synthseg.nii.gz"),
               "2": str(tmp_path / "sub-01_ses-2_T1w_synthseg.nii.gz")},
        "02": {"1": str(tmp_path / "sub-02_ses-1_T1w_synthseg.nii.gz")},
    }  # fmt: skip


def test_fastsurfer_subjects_dir_pattern(tmp_path):
    touch(tmp_path, "sub-01_ses-a/mri/aparc.DKTatlas+aseg.deep.mgz")
    touch(tmp_path, "sub-01_ses-b/mri/aparc.DKTatlas+aseg.deep.mgz")
    touch(tmp_path, "sub-01_ses-b/mri/aseg.auto_noCCseg.mgz")
    touch(tmp_path, "fsaverage/mri/aparc.DKTatlas+aseg.deep.mgz")
    pattern = "sub-{subject}_ses-{session}/mri/aparc.DKTatlas+aseg.deep.mgz"
    found = find_pattern_images(str(tmp_path / pattern))
    assert sorted(found) == ["01"] and sorted(found["01"]) == ["a", "b"]


def test_a_repeated_wildcard_must_match_the_same_label(tmp_path):
    touch(tmp_path, "01/sub-01_ses-1_dseg.nii.gz")
    touch(tmp_path, "01/sub-02_ses-1_dseg.nii.gz")
    found = find_pattern_images(str(tmp_path / "{subject}/sub-{subject}_ses-{session}_dseg.nii.gz"))
    assert found == {"01": {"1": str(tmp_path / "01/sub-01_ses-1_dseg.nii.gz")}}


def test_a_pattern_matching_two_files_for_a_session_names_both(tmp_path):
    touch(tmp_path, "sub-01_ses-1_run-1_synthseg.nii.gz")
    touch(tmp_path, "sub-01_ses-1_run-2_synthseg.nii.gz")
    with pytest.raises(InputError, match="two files match sub-01 ses-1") as err:
        find_pattern_images(str(tmp_path / "sub-{subject}_ses-{session}_*_synthseg.nii.gz"))
    assert "run-1_synthseg" in str(err.value) and "run-2_synthseg" in str(err.value)


def test_a_pattern_needs_both_wildcards():
    with pytest.raises(InputError, match="needs both"):
        find_pattern_images("/data/sub-{subject}_synthseg.nii.gz")


def test_discover_follows_the_config(tmp_path):
    """One call from a config, as the workflow makes it: label images with their T1w, or none
    when the config does not use them; a path pattern; tissue maps."""
    touch(tmp_path, "seg/sub-01/ses-1/anat/sub-01_ses-1_desc-aseg_dseg.nii.gz")
    touch(tmp_path, "seg/sub-01/ses-1/anat/sub-01_ses-1_desc-preproc_T1w.nii.gz")
    touch(tmp_path, "seg/sub-01/ses-1/anat/sub-01_ses-1_label-GM_probseg.nii.gz")
    touch(tmp_path, "synthseg/sub-02_ses-3_synthseg.nii.gz")
    base = {"segmentation_dir": str(tmp_path / "seg"), "segmentation_filters": {}, "t1w_filters": {}}
    found = discover({**base, "use_t1w": True})
    assert found.subjects == ["01"]
    assert found.label_images["01"]["1"].endswith("_desc-aseg_dseg.nii.gz")
    assert found.t1w_images["01"]["1"].endswith("_desc-preproc_T1w.nii.gz")
    assert discover({**base, "use_t1w": False}).t1w_images == {}
    pattern = str(tmp_path / "synthseg" / "sub-{subject}_ses-{session}_synthseg.nii.gz")
    assert discover({**base, "segmentation_pattern": pattern}).subjects == ["02"]
    maps = discover({**base, "tissue_maps": {"GM": "*_label-GM_probseg.nii.gz"}, "use_t1w": True})
    assert list(maps.label_images["01"]["1"]) == ["GM"] and "01" in maps.t1w_images


def test_discover_with_atlas_registration_finds_the_raw_t1w_only(tmp_path):
    """A T1w-only study: every session's raw T1w, no label image (the baseline's come from the
    atlas), even where a segmentation dataset lies beside it."""
    touch(tmp_path, "bids/sub-01/ses-w0/anat/sub-01_ses-w0_T1w.nii.gz")
    touch(tmp_path, "bids/sub-01/ses-w48/anat/sub-01_ses-w48_T1w.nii.gz")
    touch(tmp_path, "bids/sub-02/ses-w0/anat/sub-02_ses-w0_T1w.nii.gz")
    touch(tmp_path, "seg/sub-01/ses-w0/anat/sub-01_ses-w0_dseg.nii.gz")
    config = {
        "bids_dir": str(tmp_path / "bids"),
        "segmentation_dir": str(tmp_path / "seg"),
        "t1w_filters": {},
        "change_measure": "jacobian",
        "atlas_registration": {"template": "t.nii.gz", "labels": "l.nii.gz"},
    }
    found = discover(config)
    assert found.label_images == {}
    assert sorted(found.t1w_images) == ["01", "02"]
    assert sorted(found.t1w_images["01"]) == ["w0", "w48"]
