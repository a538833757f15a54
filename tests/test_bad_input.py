"""Bad inputs: each image fault named by the subject job, and through real Snakemake runs a clear
error naming the file, nothing partial left."""

import gzip
import json
import shutil
import struct
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from conftest import REPO, cohort_config, run_snakemake
from helpers import write_image

from brain_atrophy.errors import InputError
from brain_atrophy.measure.subject import process_subject
from brain_atrophy.tables import read_frame

BAD_SUBJECT = "OCR01"
OTHER_SUBJECTS = ("HC01", "HC02", "OCR02")
slow = pytest.mark.slow  # a real Snakemake run


@pytest.fixture
def cohort(tiny_cohort, tmp_path):
    return shutil.copytree(tiny_cohort, tmp_path / "cohort")


@pytest.fixture
def bad_subject_images(tiny_cohort, tmp_path):
    """A cohort folder holding only the bad subject's segmentations: what the image faults damage."""
    folder = f"derivatives/segmentation/sub-{BAD_SUBJECT}"
    shutil.copytree(tiny_cohort / folder, tmp_path / "cohort" / folder)
    return tmp_path / "cohort"


def label_image(cohort, subject=BAD_SUBJECT, session="w24"):
    return next(
        (cohort / "derivatives" / "segmentation" / f"sub-{subject}" / f"ses-{session}").glob(
            "anat/*_dseg.nii.gz"
        )
    )


def run(cohort, tmp_path, *extra, **config):
    out = tmp_path / "out"
    result = run_snakemake(*extra, *cohort_config(cohort, out, **config), cwd=tmp_path, check=False)
    return result, out, result.stdout + result.stderr


def non_integral(cohort):
    return float_labels_with(cohort, 2.5), "non-integral values"


def four_d(cohort):
    path = label_image(cohort)
    image = nib.load(path)
    data = np.asanyarray(image.dataobj)
    write_image(path, np.stack([data, data], axis=-1), image.affine)
    return path, "expected one 3D label volume"


def truncated(cohort):
    path = label_image(cohort)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    return path, "corrupt or truncated gzip"


def not_an_image(cohort):
    path = label_image(cohort)
    path.write_bytes(gzip.compress(b"<html>transfer failed</html>\n" * 20))
    return path, "not a readable NIfTI"


def float_labels_with(cohort, value):
    """The label image stored as float32 with one voxel set to ``value``."""
    path = label_image(cohort)
    image = nib.load(path)
    data = np.asanyarray(image.dataobj).astype(np.float32)
    data[40, 40, 40] = value
    write_image(path, data, image.affine)
    return path


def nan_voxels(cohort):
    return float_labels_with(cohort, np.nan), "NaN or infinite"


def zero_voxel_size(cohort):
    path = label_image(cohort)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[80:84] = struct.pack("<f", 0.0)  # pixdim[1]
    raw[252:256] = struct.pack("<hh", 0, 0)  # no qform/sform: the affine comes from pixdim
    path.write_bytes(gzip.compress(bytes(raw)))
    return path, "voxel size must be positive"


def negative_voxel_size(cohort):
    path = label_image(cohort)
    raw = bytearray(gzip.decompress(path.read_bytes()))
    raw[84:88] = struct.pack("<f", -1.0)  # pixdim[2]
    raw[252:256] = struct.pack("<hh", 0, 0)
    path.write_bytes(gzip.compress(bytes(raw)))
    return path, "voxel size must be positive"


def infinite_voxels(cohort):
    return float_labels_with(cohort, np.inf), "NaN or infinite"


def duplicate_acq_time(cohort):
    path = cohort / "bids" / f"sub-{BAD_SUBJECT}" / f"sub-{BAD_SUBJECT}_sessions.tsv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].split("\t")[0] + "\t" + lines[1].split("\t")[1]
    path.write_text("\n".join(lines) + "\n")
    return path, "the same acq_time"


def missing_acq_time(cohort):
    path = cohort / "bids" / f"sub-{BAD_SUBJECT}" / f"sub-{BAD_SUBJECT}_sessions.tsv"
    lines = path.read_text().splitlines()
    lines[2] = lines[2].split("\t")[0] + "\tn/a"
    path.write_text("\n".join(lines) + "\n")
    return path, "has no acq_time"


def sessions_table(cohort):
    return cohort / "bids" / f"sub-{BAD_SUBJECT}" / f"sub-{BAD_SUBJECT}_sessions.tsv"


def unparsable_acq_time(cohort):
    path = sessions_table(cohort)
    lines = path.read_text().splitlines()
    lines[2] = lines[2].split("\t")[0] + "\tlast tuesday"
    path.write_text("\n".join(lines) + "\n")
    return path, "is not an ISO 8601 date"


def missing_sessions_row(cohort):
    path = sessions_table(cohort)
    lines = [line for line in path.read_text().splitlines() if not line.startswith("ses-w24\t")]
    path.write_text("\n".join(lines) + "\n")
    return path, "no row for session 'ses-w24'"


def t1w_on_another_grid(cohort):
    labels = label_image(cohort)
    image = nib.load(labels)
    shape = tuple(n + 2 for n in image.shape)
    path = labels.with_name(labels.name.replace("_dseg", "_T1w"))
    write_image(path, np.full(shape, 100, dtype=np.int16), image.affine)
    return path, "T1w grid"


def measure_bad_subject(cohort, subject_dir):
    """The subject job's work, in-process, on the bad subject's label images and the T1w images
    beside them (the workflow's default inputs for it)."""
    folders = sorted((cohort / "derivatives" / "segmentation" / f"sub-{BAD_SUBJECT}").glob("ses-*/anat"))

    def by_session(suffix):
        return {f.parent.name[4:]: path for f in folders for path in f.glob(f"*_{suffix}.nii.gz")}

    process_subject(
        subject=BAD_SUBJECT,
        images=by_session("dseg"),
        region_tsv=REPO / "config" / "regions" / "freesurfer.tsv",
        subject_dir=subject_dir,
        t1w_images=by_session("T1w"),
    )


def test_the_undamaged_subject_measures(bad_subject_images, tmp_path):
    # the harness the image faults go through: without damage it measures every session
    measure_bad_subject(bad_subject_images, tmp_path / "out")
    volumes = read_frame(tmp_path / "out" / "anat" / f"sub-{BAD_SUBJECT}_volumes.tsv")
    assert volumes["session_id"].nunique() == len(list(bad_subject_images.rglob("*_dseg.nii.gz")))


@pytest.mark.parametrize(
    "damage",
    [
        t1w_on_another_grid,
        non_integral,
        four_d,
        truncated,
        not_an_image,
        nan_voxels,
        zero_voxel_size,
        negative_voxel_size,
        infinite_voxels,
    ],
)
@pytest.mark.filterwarnings("ignore:Extension size:UserWarning")  # nibabel, reading not_an_image's header
def test_image_fault_is_an_input_error_naming_the_file_and_the_fault(bad_subject_images, tmp_path, damage):
    bad_file, fault = damage(bad_subject_images)
    with pytest.raises(InputError) as raised:
        measure_bad_subject(bad_subject_images, tmp_path / "out")
    assert raised.value.source == str(bad_file)
    assert str(bad_file) in str(raised.value) and fault in str(raised.value)


@slow
def test_subject_fault_stops_the_run_with_a_clear_message(cohort, tmp_path):
    bad_file, fault = truncated(cohort)
    result, out, text = run(cohort, tmp_path)
    assert result.returncode != 0
    message = [line for line in text.splitlines() if line.startswith("brain-atrophy: ERROR")]
    assert message, text
    assert str(bad_file.relative_to(cohort)) in message[0] and fault in message[0]
    assert not (out / f"sub-{BAD_SUBJECT}").exists()  # no partial output to mistake for a result
    assert not (out / "group" / "rates_by_group.tsv").exists()


@slow
@pytest.mark.parametrize(
    "damage", [unparsable_acq_time, missing_sessions_row, missing_acq_time, duplicate_acq_time]
)
def test_time_fault_stops_the_group_step_with_a_clear_message(cohort, tmp_path, damage):
    """Times are joined in the group job: the subject's volumes stay measured (nothing computed
    is lost), and no group table is written."""
    bad_file, fault = damage(cohort)
    result, out, text = run(cohort, tmp_path)
    assert result.returncode != 0
    message = [line for line in text.splitlines() if line.startswith("brain-atrophy: ERROR")]
    assert message, text
    assert "rule group_statistics" in message[0]
    assert str(bad_file.relative_to(cohort)) in message[0] and fault in message[0]
    assert (out / f"sub-{BAD_SUBJECT}" / "anat" / f"sub-{BAD_SUBJECT}_volumes.tsv").is_file()
    assert not (out / "group" / "rates_by_group.tsv").exists()


@slow
def test_keep_going_finishes_everyone_else_and_reports_who_was_left_out(cohort, tmp_path):
    bad_file, fault = non_integral(cohort)
    result, out, text = run(cohort, tmp_path, "--keep-going")
    assert result.returncode != 0  # the final check keeps the failure visible
    errors = [line for line in text.splitlines() if line.startswith("brain-atrophy: ERROR")]
    # the bad subject's job says it once; the final check once more, for the whole run
    said = [line for line in errors if "(subject left out, --keep-going)" in line]
    assert len(said) == 1 and str(bad_file.relative_to(cohort)) in said[0] and fault in said[0], text
    final = [line for line in errors if line not in said]
    assert len(final) == 1 and "1 subject(s) left out for bad inputs" in final[0], text
    for subject in OTHER_SUBJECTS:
        assert (out / f"sub-{subject}" / "anat" / f"sub-{subject}_volumes.tsv").is_file()
    for table in ("volumes.tsv", "subject_rates.tsv", "rates_by_group.tsv", "group_differences.tsv"):
        assert (out / "group" / table).is_file(), table
    # the bad subject's folder holds only the record of its fault (Snakemake's own marker aside)
    folder = out / f"sub-{BAD_SUBJECT}"
    left = [p.relative_to(folder) for p in folder.rglob("*") if not p.name.startswith(".snakemake")]
    assert left == [Path(f"sub-{BAD_SUBJECT}_errors.tsv")]
    rates = (out / "group" / "rates_by_group.tsv").read_text()
    assert "OCR" in rates
    excluded = (out / "group" / "excluded.tsv").read_text()
    assert f"sub-{BAD_SUBJECT}\t\tinput error\t" in excluded and fault in excluded
    assert str(bad_file.relative_to(cohort)) in excluded
    assert "subject(s) left out for bad inputs" in text
    volumes = (out / "group" / "volumes.tsv").read_text()
    assert f"sub-{BAD_SUBJECT}" not in volumes and "sub-OCR02" in volumes


@slow
def test_config_exclusions_leave_cached_volumes_in_place(cohort, tmp_path):
    exclude = [{"participant_id": "sub-HC02", "reason": "withdrew consent"},
               {"participant_id": "OCR01", "session_id": "w24", "reason": "motion"}]  # fmt: skip
    result, out, text = run(cohort, tmp_path, exclude=exclude)
    assert result.returncode == 0, text
    assert (out / "sub-HC02" / "anat" / "sub-HC02_volumes.tsv").is_file()
    excluded = (out / "group" / "excluded.tsv").read_text()
    assert "sub-HC02\t\tconfig exclude\twithdrew consent" in excluded
    assert "sub-OCR01\tses-w24\tconfig exclude\tmotion" in excluded
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    hc = rates[rates["group"] == "HC"]
    assert len(hc) > 0 and (hc["n_subjects"] == 1).all()  # HC01 only


@slow
def test_participant_without_group(cohort, tmp_path):
    path = cohort / "bids" / "participants.tsv"
    lines = [line for line in path.read_text().splitlines() if not line.startswith(f"sub-{BAD_SUBJECT}\t")]
    path.write_text("\n".join(lines) + "\n")
    result, out, text = run(cohort, tmp_path)
    assert result.returncode != 0
    assert f"participants.tsv: no group for participant(s) sub-{BAD_SUBJECT}" in text
    assert not (out / "group" / "rates_by_group.tsv").exists()


@slow
def test_unknown_reference_group(cohort, tmp_path):
    result, _, text = run(cohort, tmp_path, reference_group="Placebo")
    assert result.returncode != 0
    assert "reference_group 'Placebo' is not a group" in text and "HC, OCR" in text


@slow
@pytest.mark.parametrize(
    "config, fault",
    [
        ({"confidence_level": 1.5}, "confidence_level"),
        ({"colour": "red"}, "colour"),
        ({"regions": "nosuch"}, "nosuch"),
        ({"change_measure": "jacobian", "tissue_maps": {"GM": "*GM*"}}, "use one or the other"),
        ({"change_measure": "tbm"}, "change_measure"),
        (
            {"change_measure": "labels", "atlas_registration": {"template": "t.nii", "labels": "l.nii"}},
            "change_measure must be jacobian",
        ),
        (
            {"atlas_registration": {"template": "/nonexistent/t.nii.gz", "labels": "/nonexistent/l.nii.gz"}},
            "atlas_registration': template '/nonexistent/t.nii.gz' not found",
        ),
    ],
)
def test_invalid_config_is_refused_before_running(cohort, tmp_path, config, fault):
    result, out, text = run(cohort, tmp_path, **config)
    assert result.returncode != 0
    assert fault in text
    assert not out.exists()


@slow
def test_regions_named_through_the_top_level_dseg_tsv(cohort, tmp_path):
    lookup = "index\tname\n10\tLeft-Thalamus\n49\tRight-Thalamus\n7\tLeft-Cerebellum-White-Matter\n"
    (cohort / "derivatives" / "segmentation" / "dseg.tsv").write_text(lookup)
    table = tmp_path / "named.tsv"
    table.write_text("region\tlabels\nthalamus\tLeft-Thalamus Right-Thalamus\nthalamus_by_code\t10 49\n")
    result, out, text = run(cohort, tmp_path, regions=str(table))
    assert result.returncode == 0, text
    volumes = read_frame(out / "group" / "volumes.tsv")
    by_name = volumes.loc[volumes["region"] == "thalamus", "volume_mm3"].tolist()
    by_code = volumes.loc[volumes["region"] == "thalamus_by_code", "volume_mm3"].tolist()
    n_sessions = len(list((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*")))
    assert by_name == by_code and len(by_name) == n_sessions


@slow
def test_sessions_listed_out_of_order_are_timed_by_date(cohort, tmp_path):
    reference, out_reference, text = run(cohort, tmp_path / "in-order")
    assert reference.returncode == 0, text
    path = sessions_table(cohort)
    header, *rows = path.read_text().splitlines()
    path.write_text("\n".join([header, *reversed(rows)]) + "\n")
    result, out, text = run(cohort, tmp_path / "reversed")
    assert result.returncode == 0, text
    for table in ("volumes.tsv", "subject_rates.tsv", "rates_by_group.tsv"):
        assert (out / "group" / table).read_text() == (out_reference / "group" / table).read_text()


@slow
def test_non_bids_label_in_the_tree_is_refused_before_anything_runs(cohort, tmp_path):
    segmentation = cohort / "derivatives" / "segmentation"
    (segmentation / "sub-OCR01").rename(segmentation / "sub-OCR01;rm -rf ~")
    result, out, text = run(cohort, tmp_path)
    assert result.returncode != 0
    assert "participant label 'OCR01;rm -rf ~' has characters outside BIDS' [a-zA-Z0-9]" in text
    assert "sub-OCR01;rm -rf ~" in text
    assert not out.exists()


@slow
@pytest.mark.parametrize(
    "table, fault",
    [
        ("region\tcodes\nthalamus\t10 49\n", "labels"),
        ("region\tlabels\nthalamus\t10 forty-nine\n", "forty-nine"),
    ],
)
def test_malformed_region_table_stops_naming_the_table(cohort, tmp_path, table, fault):
    path = tmp_path / "regions.tsv"
    path.write_text(table)
    result, out, text = run(cohort, tmp_path, regions=str(path))
    assert result.returncode != 0
    message = [line for line in text.splitlines() if line.startswith("brain-atrophy: ERROR")]
    assert message and str(path) in message[0] and fault in message[0], text
    assert not (out / "group" / "rates_by_group.tsv").exists()


@slow
def test_region_absent_from_every_image_is_reported_not_fatal(cohort, tmp_path):
    path = tmp_path / "regions.tsv"
    path.write_text("region\tlabels\nthalamus\t10 49\nnowhere\t9999\n")
    result, out, text = run(cohort, tmp_path, regions=str(path))
    assert result.returncode == 0, text
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    assert rates[rates["region"] == "thalamus"]["rate_pct_per_year"].notna().all()
    nowhere = rates[rates["region"] == "nowhere"]
    assert nowhere["rate_pct_per_year"].isna().all() and (nowhere["model"] == "not fitted").all()
    assert "nowhere" in json.loads((out / "group" / "analysis.json").read_text())["regions_not_modelled"]
    assert "absent:nowhere" in (out / "group" / "qc.tsv").read_text()
