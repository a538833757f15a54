"""One subject by Jacobian integration (brain_atrophy.measure.longitudinal), on registration
folders written here with known Jacobian maps: what the subject job makes of them, and the
faults it reports."""

import json

import nibabel as nib
import numpy as np
import pytest

from brain_atrophy import paths
from brain_atrophy.errors import InputError
from brain_atrophy.measure.longitudinal import process_subject_jacobian
from brain_atrophy.tables import read_table, write_rows

REGIONS = "region\tlabels\nthalamus\t10 49\nwhite_matter\t2 41\n"
MEASURES = {"similarity": 0.99, "shell_log_jacobian": 0.0, "folding_fraction": 0.0, "seconds": 1.0}


def save(array, path, affine=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(array, np.diag([2.0, 2.0, 2.0, 1.0]) if affine is None else affine), path)
    return str(path)


def labels_volume():
    labels = np.zeros((12, 12, 12), np.int16)
    labels[2:6, 2:6, 2:6] = 10  # 64 voxels of 8 mm³
    labels[6:10, 2:10, 2:10] = 2  # 256 voxels
    return labels


def registration(tmp_path, session, jacobian, measures=MEASURES):
    folder = tmp_path / "registration" / session
    files = paths.registration_files(folder, "01", session)
    save(jacobian.astype(np.float32), files["jacobian"])
    save(np.ones(jacobian.shape, np.float32), files["warped"])
    files["measures"].write_text(json.dumps(measures))
    return str(folder)


@pytest.fixture
def subject(tmp_path):
    (tmp_path / "regions.tsv").write_text(REGIONS)
    labels = labels_volume()
    t1w = {
        s: save(
            np.random.default_rng(0).random((12, 12, 12)).astype(np.float32), tmp_path / f"{s}_T1w.nii.gz"
        )
        for s in ("w0", "w48", "w96")
    }
    images = {"w0": save(labels, tmp_path / "w0_dseg.nii.gz")}
    jacobian = np.ones(labels.shape)
    jacobian[labels == 10] = 0.97
    registrations = {
        "w48": registration(tmp_path, "w48", jacobian),
        "w96": registration(
            tmp_path, "w96", np.where(labels == 10, 0.95, 1.0), {**MEASURES, "similarity": 0.5}
        ),
    }
    return dict(
        subject="01",
        sessions=["w0", "w48", "w96"],
        images=images,
        t1w_images=t1w,
        registrations=registrations,
        region_tsv=str(tmp_path / "regions.tsv"),
        subject_dir=str(tmp_path / "out" / "sub-01"),
    )


def volumes(subject_dir):
    rows = read_table(paths.subject_outputs(subject_dir, "01")["volumes"]).rows
    return {(r["session_id"], r["region"], r["method"]): float(r["volume_mm3"]) for r in rows}


def test_follow_up_volumes_are_baseline_volumes_times_the_mean_jacobian(subject):
    process_subject_jacobian(**subject)
    found = volumes(subject["subject_dir"])
    assert (
        found[("ses-w0", "thalamus", "jacobian")]
        == found[("ses-w0", "thalamus", "labels")]
        == pytest.approx(64 * 8)
    )
    assert found[("ses-w48", "thalamus", "jacobian")] == pytest.approx(64 * 8 * 0.97)
    assert found[("ses-w96", "thalamus", "jacobian")] == pytest.approx(64 * 8 * 0.95)
    assert found[("ses-w96", "white_matter", "jacobian")] == pytest.approx(256 * 8)
    assert ("ses-w48", "thalamus", "labels") not in found  # no label image at the follow-up
    registration_rows = read_table(paths.subject_outputs(subject["subject_dir"], "01")["registration"]).rows
    assert [r["flags"] for r in registration_rows] == ["", "poor_alignment"]
    assert paths.subject_outputs(subject["subject_dir"], "01")["mosaic"].is_file()


def test_a_follow_up_label_image_adds_label_count_rows(subject, tmp_path):
    labels = labels_volume()
    labels[2, 2:6, 2:6] = 0  # 16 thalamus voxels fewer
    subject["images"]["w48"] = save(labels, tmp_path / "w48_dseg.nii.gz")
    process_subject_jacobian(**subject)
    found = volumes(subject["subject_dir"])
    assert found[("ses-w48", "thalamus", "labels")] == pytest.approx(48 * 8)
    assert found[("ses-w48", "thalamus", "jacobian")] == pytest.approx(64 * 8 * 0.97)


def test_labels_on_another_grid_are_carried_onto_the_t1w(subject, tmp_path):
    fine = np.repeat(np.repeat(np.repeat(labels_volume(), 2, 0), 2, 1), 2, 2)
    affine = np.diag([1.0, 1.0, 1.0, 1.0])
    affine[:3, 3] = -0.5  # 1 mm voxel centres around the 2 mm ones
    subject["images"]["w0"] = save(fine, tmp_path / "fine_dseg.nii.gz", affine)
    process_subject_jacobian(**subject)
    found = volumes(subject["subject_dir"])
    assert found[("ses-w0", "thalamus", "labels")] == pytest.approx(512)  # counted on its own grid
    assert found[("ses-w48", "thalamus", "jacobian")] == pytest.approx(512 * 0.97)


def test_a_session_without_t1w_is_an_error_naming_it(subject):
    del subject["t1w_images"]["w96"]
    with pytest.raises(InputError, match="ses-w96 has no T1w"):
        process_subject_jacobian(**subject)


def test_a_baseline_without_labels_is_an_error_naming_its_t1w(subject):
    subject["images"] = {}
    with pytest.raises(InputError, match=r"w0_T1w.nii.gz: the baseline session ses-w0 has no label image"):
        process_subject_jacobian(**subject)


def test_a_pair_left_out_reports_its_recorded_fault(subject):
    files = paths.registration_files(subject["registrations"]["w96"], "01", "w96")
    for key in ("jacobian", "warped", "measures"):
        files[key].unlink()
    write_rows(
        files["errors"],
        ["participant_id", "session_id", "file", "fault"],
        [
            {
                "participant_id": "sub-01",
                "session_id": "ses-w96",
                "file": "w96_T1w.nii.gz",
                "fault": "T1w is not a 3D image",
            }
        ],
    )
    with pytest.raises(InputError, match="w96_T1w.nii.gz: T1w is not a 3D image"):
        process_subject_jacobian(**subject)
