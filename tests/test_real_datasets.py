"""Datasets as real studies keep them, through real Snakemake runs: time in scans.tsv or as an
age, tables saved by spreadsheets and old tools, segmentations where the segmenter left them."""

import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from conftest import cohort_config, run_snakemake
from helpers import write_image

from brain_atrophy.tables import read_frame

pytestmark = pytest.mark.slow

BASELINE_AGE = 60.0


def spreadsheet(path, text):
    """Write ``text`` as a spreadsheet exports it: UTF-8 BOM, CRLF, a trailing blank line."""
    path.write_bytes(b"\xef\xbb\xbf" + (text.rstrip("\n") + "\n\n").replace("\n", "\r\n").encode("utf-8"))


@pytest.fixture(scope="module")
def reference(default_run):
    """The cohort as generated (time in sessions.tsv acq_time) and its group volume table, from
    the session's default run."""
    return default_run.cohort, read_frame(default_run.out / "group" / "volumes.tsv")


def sessions_of(cohort):
    """{subject label: sessions table as generated}."""
    return {
        path.parent.name[4:]: read_frame(path)
        for path in sorted((cohort / "bids").glob("sub-*/sub-*_sessions.tsv"))
    }


def years_of(table):
    dates = pd.to_datetime(table["acq_time"])
    return (dates - dates.min()).dt.total_seconds() / (365.25 * 86400)


def assert_same_volumes_and_years(out, reference_volumes, source, rtol=0.0):
    """Every session's volumes and years equal the reference run's (``rtol``: MGZ stores the
    affine in float32, so its voxel volume differs in the 7th digit)."""
    volumes = read_frame(out / "group" / "volumes.tsv")
    key = ["participant_id", "session_id", "region"]
    merged = reference_volumes.merge(volumes, on=key, suffixes=("_ref", ""))
    assert len(merged) == len(reference_volumes) == len(volumes)
    assert (merged["n_voxels"] == merged["n_voxels_ref"]).all()
    np.testing.assert_allclose(merged["volume_mm3"], merged["volume_mm3_ref"], rtol=rtol, atol=0)
    np.testing.assert_allclose(merged["years"], merged["years_ref"], atol=1e-9)
    assert set(volumes["time_source"]) == {source}
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    assert rates["rate_pct_per_year"].notna().all()
    assert source in (out / "group" / "methods.md").read_text()
    assert source in (out / "group" / "analysis.json").read_text()


def copy(cohort, tmp_path):
    return shutil.copytree(cohort, tmp_path / "cohort")


def test_time_only_in_scans_tsv_with_every_table_saved_by_a_spreadsheet(reference, tmp_path):
    cohort, reference_volumes = reference
    cohort = copy(cohort, tmp_path)
    bids = cohort / "bids"
    for subject, table in sessions_of(cohort).items():
        spreadsheet(
            bids / f"sub-{subject}" / f"sub-{subject}_sessions.tsv",
            "session_id\n" + "\n".join(table["session_id"]),
        )
        for session, when in zip(table["session_id"], table["acq_time"], strict=True):
            folder = bids / f"sub-{subject}" / session
            folder.mkdir(exist_ok=True)
            # a functional run earlier the same day must not be taken for the anatomical scan
            spreadsheet(
                folder / f"sub-{subject}_{session}_scans.tsv",
                f"filename\tacq_time\nfunc/sub-{subject}_{session}_task-rest_bold.nii.gz\t{when[:10]}T07:00:00\n"
                f"anat/sub-{subject}_{session}_T1w.nii.gz\t{when}\n",
            )
    participants = (bids / "participants.tsv").read_text()
    spreadsheet(bids / "participants.tsv", participants)
    result = run_snakemake(*cohort_config(cohort, tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0
    assert_same_volumes_and_years(tmp_path / "out", reference_volumes, "scans.tsv acq_time")


def test_time_only_as_an_age(reference, tmp_path):
    cohort, reference_volumes = reference
    cohort = copy(cohort, tmp_path)
    for subject, table in sessions_of(cohort).items():
        ages = BASELINE_AGE + years_of(table)
        rows = "\n".join(f"{s}\t{a!r}" for s, a in zip(table["session_id"], ages, strict=True))
        (cohort / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv").write_text(
            f"session_id\tage\n{rows}\n"
        )
    run_snakemake(*cohort_config(cohort, tmp_path / "out"), cwd=tmp_path)
    assert_same_volumes_and_years(tmp_path / "out", reference_volumes, "sessions.tsv age (years)")
    volumes = read_frame(tmp_path / "out" / "group" / "volumes.tsv")
    assert volumes["acq_time"].isna().all()  # an age is not a date: nothing is made up


def test_time_as_scan_age_in_weeks_named_in_the_config(reference, tmp_path):
    cohort, reference_volumes = reference
    cohort = copy(cohort, tmp_path)
    for subject, table in sessions_of(cohort).items():
        weeks = 40 + years_of(table) * 365.25 / 7
        rows = "\n".join(
            f"{s}\tn/a\t{w!r}" for s, w in zip(table["session_id"], weeks, strict=True)
        )  # an empty acq_time column must not be used
        path = cohort / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
        path.write_text(f"session_id\tacq_time\tscan_age\n{rows}\n")
    config = cohort_config(cohort, tmp_path / "out", time={"column": "scan_age", "unit": "weeks"})
    run_snakemake(*config, cwd=tmp_path)
    assert_same_volumes_and_years(tmp_path / "out", reference_volumes, "sessions.tsv scan_age (weeks)")


def label_images(cohort):
    """(subject, session, path) of every generated label image."""
    for path in sorted((cohort / "derivatives" / "segmentation").glob("sub-*/ses-*/anat/*_dseg.nii.gz")):
        yield path.parts[-4][4:], path.parts[-3][4:], path


def test_synthseg_outputs_left_beside_their_inputs(reference, tmp_path):
    cohort, reference_volumes = reference
    flat = tmp_path / "synthseg"
    flat.mkdir()
    for subject, session, path in label_images(cohort):
        (flat / f"sub-{subject}_ses-{session}_T1w_synthseg.nii.gz").symlink_to(path)
        (flat / f"sub-{subject}_ses-{session}_T1w.nii.gz").symlink_to(path)  # the input: not a match
    pattern = str(flat / "sub-{subject}_ses-{session}_T1w_synthseg.nii.gz")
    run_snakemake(*cohort_config(cohort, tmp_path / "out", segmentation_pattern=pattern), cwd=tmp_path)
    assert_same_volumes_and_years(tmp_path / "out", reference_volumes, "sessions.tsv acq_time")


def test_fastsurfer_subjects_dir(reference, tmp_path):
    cohort, reference_volumes = reference
    subjects_dir = tmp_path / "fastsurfer"
    for subject, session, path in label_images(cohort):
        image = nib.load(path)
        mri = subjects_dir / f"sub-{subject}_ses-{session}" / "mri"
        write_image(mri / "aparc.DKTatlas+aseg.deep.mgz", np.asarray(image.dataobj), image.affine, np.int32)
        shutil.copy(mri / "aparc.DKTatlas+aseg.deep.mgz", mri / "aseg.auto_noCCseg.mgz")
    pattern = str(subjects_dir / "sub-{subject}_ses-{session}/mri/aparc.DKTatlas+aseg.deep.mgz")
    config = cohort_config(cohort, tmp_path / "out", segmentation_pattern=pattern)
    run_snakemake(*config, cwd=tmp_path)
    assert_same_volumes_and_years(tmp_path / "out", reference_volumes, "sessions.tsv acq_time", rtol=1e-6)


BAD_SUBJECT = "OCR01"


def bad_sessions_table(cohort):
    return cohort / "bids" / f"sub-{BAD_SUBJECT}" / f"sub-{BAD_SUBJECT}_sessions.tsv"


def test_latin1_sessions_table_is_read_and_the_log_says_how(tiny_cohort, tmp_path):
    cohort = copy(tiny_cohort, tmp_path)
    path = bad_sessions_table(cohort)
    lines = path.read_text().splitlines()
    text = lines[0] + "\tsite\n" + "".join(f"{line}\tZürich\n" for line in lines[1:])
    path.write_bytes(text.encode("latin-1"))
    run_snakemake(*cohort_config(cohort, tmp_path / "out"), cwd=tmp_path)
    log = (tmp_path / "out" / "logs" / "group_statistics.log").read_text()
    assert f"{path}: not UTF-8 (line 2, byte 0xfc); read as cp1252" in log


def no_time_anywhere(cohort):
    path = bad_sessions_table(cohort)
    path.write_text(
        "session_id\tsite\n"
        + "".join(f"{line.split()[0]}\tA\n" for line in path.read_text().splitlines()[1:])
    )
    return path, "the session has no time"


def mixed_sources(cohort):
    path = bad_sessions_table(cohort)
    lines = path.read_text().splitlines()
    header, first, rest = lines[0].split("\t"), lines[1].split("\t"), lines[2:]
    assert header[:2] == ["session_id", "acq_time"]
    rows = ["\t".join([first[0], first[1], "n/a"])] + [
        "\t".join([r.split("\t")[0], "n/a", str(61 + i)]) for i, r in enumerate(rest)
    ]
    path.write_text("session_id\tacq_time\tage\n" + "\n".join(rows) + "\n")
    return path, "take their time from different sources"


def undecodable(cohort):
    path = bad_sessions_table(cohort)
    path.write_bytes(path.read_bytes().rstrip(b"\n") + b"\t\x81\x8d\n")
    return path, "not UTF-8"


@pytest.mark.parametrize("damage", [no_time_anywhere, mixed_sources, undecodable])
def test_time_faults_name_the_file_and_keep_going_leaves_only_that_subject_out(tiny_cohort, tmp_path, damage):
    cohort = copy(tiny_cohort, tmp_path)
    bad_file, fault = damage(cohort)
    out = tmp_path / "out"
    stopped = run_snakemake(*cohort_config(cohort, out), cwd=tmp_path, check=False)
    assert stopped.returncode != 0
    errors = [
        line
        for line in (stopped.stdout + stopped.stderr).splitlines()
        if line.startswith("brain-atrophy: ERROR")
    ]
    assert errors and str(bad_file) in errors[0] and fault in errors[0], stopped.stderr
    kept_going = run_snakemake("--keep-going", *cohort_config(cohort, out), cwd=tmp_path, check=False)
    assert kept_going.returncode != 0  # the final check keeps the failure visible
    excluded = read_frame(out / "group" / "excluded.tsv")
    assert excluded["participant_id"].tolist() == [f"sub-{BAD_SUBJECT}"]
    assert fault in excluded["reason"][0] and str(bad_file) in excluded["reason"][0]
    rates = read_frame(out / "group" / "rates_by_group.tsv")
    assert set(rates["group"]) == {"HC", "OCR"} and rates["rate_pct_per_year"].notna().all()


def test_a_pattern_matching_two_files_for_one_session_stops_before_anything_runs(tiny_cohort, tmp_path):
    flat = tmp_path / "synthseg"
    flat.mkdir()
    for subject, session, path in label_images(tiny_cohort):
        (flat / f"sub-{subject}_ses-{session}_run-1_synthseg.nii.gz").symlink_to(path)
    (flat / f"sub-{subject}_ses-{session}_run-2_synthseg.nii.gz").symlink_to(path)
    pattern = str(flat / "sub-{subject}_ses-{session}_*_synthseg.nii.gz")
    result = run_snakemake(
        *cohort_config(tiny_cohort, tmp_path / "out", segmentation_pattern=pattern), cwd=tmp_path, check=False
    )
    assert result.returncode != 0
    text = result.stdout + result.stderr
    assert f"two files match sub-{subject} ses-{session}" in text
    for run in (1, 2):
        assert f"sub-{subject}_ses-{session}_run-{run}_synthseg.nii.gz" in text
    assert not (tmp_path / "out").exists()
