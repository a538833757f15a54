"""What a change plans, asserted from real dry runs after a finished run (per-subject caching)."""

import shutil

import pytest
from conftest import GROUP_RULES, planned_jobs, run_snakemake

pytestmark = pytest.mark.slow

GROUP_LEVEL = {(rule, None) for rule in GROUP_RULES}


def planned(work, *extra):
    """{(rule, subject or None)} that a dry run would run, without the 'all' target."""
    result = run_snakemake("-n", "--configfile", "config.yaml", *extra, cwd=work)
    return {
        (job["rule"], job["wildcards"].get("subject"))
        for job in planned_jobs(result.stdout)
        if job["rule"] != "all"
    }


@pytest.fixture
def work(default_run, tmp_path):
    """A copy of the default run (outputs, metadata and mtimes preserved) to change."""
    return default_run.copy(tmp_path / "work").work


def subject_images(work, subject):
    return sorted(
        (work / "cohort" / "derivatives" / "segmentation" / f"sub-{subject}").glob("ses-*/anat/*_dseg.nii.gz")
    )


def add_session(work, subject, session, acq_time):
    source = subject_images(work, subject)[-1]
    target = work / "cohort/derivatives/segmentation" / f"sub-{subject}/ses-{session}/anat"
    target.mkdir(parents=True)
    shutil.copy(source, target / f"sub-{subject}_ses-{session}_dseg.nii.gz")
    with open(work / "cohort/bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv", "a") as table:
        table.write(f"ses-{session}\t{acq_time}\n")


def test_finished_run_plans_nothing(work):
    assert planned(work) == set()


def test_new_session_reruns_only_its_subject_and_the_group(work):
    add_session(work, "HC01", "w144", "2024-01-01T09:00:00")
    assert planned(work) == {("subject_volumes", "HC01")} | GROUP_LEVEL


def test_new_subject_runs_only_itself_and_the_group(work):
    segmentation = work / "cohort/derivatives/segmentation"
    for image in subject_images(work, "HC01"):
        session = image.parent.parent.name
        target = segmentation / "sub-HC09" / session / "anat"
        target.mkdir(parents=True)
        shutil.copy(image, target / image.name.replace("sub-HC01", "sub-HC09"))
    (work / "cohort/bids/sub-HC09").mkdir()
    shutil.copy(
        work / "cohort/bids/sub-HC01/sub-HC01_sessions.tsv",
        work / "cohort/bids/sub-HC09/sub-HC09_sessions.tsv",
    )
    with open(work / "cohort/bids/participants.tsv", "a") as table:
        table.write("sub-HC09\tHC\t40.0\tF\n")
    assert planned(work) == {("subject_volumes", "HC09")} | GROUP_LEVEL


def test_editing_participants_reruns_only_the_group(work):
    table = work / "cohort/bids/participants.tsv"
    table.write_text(table.read_text().replace("\tOCR\t", "\tHC\t", 1))
    assert planned(work) == GROUP_LEVEL


def test_changing_the_region_table_reruns_every_subject(work):
    table = work / "regions.tsv"
    table.write_text(table.read_text() + "hippocampus\t17 53\tleft and right hippocampus\n")
    subjects = {("subject_volumes", s) for s in ("HC01", "HC02", "OCR01", "OCR02")}
    assert planned(work) == subjects | GROUP_LEVEL


@pytest.mark.parametrize("setting", ["confidence_level: 0.9", "covariates: [age]"])
def test_changing_a_model_setting_reruns_only_the_group(work, setting):
    with open(work / "config.yaml", "a") as config:
        config.write(setting + "\n")
    assert planned(work) == GROUP_LEVEL


def test_correcting_a_date_reruns_only_the_group(work):
    table = work / "cohort/bids/sub-OCR01/sub-OCR01_sessions.tsv"
    lines = table.read_text().splitlines()
    session, when = lines[-1].split("\t")[:2]
    lines[-1] = f"{session}\t{when[:10]}T15:30:00"
    table.write_text("\n".join(lines) + "\n")
    assert planned(work) == GROUP_LEVEL


def test_a_scanner_column_reruns_only_the_group(work):
    table = work / "cohort/bids/sub-HC02/sub-HC02_sessions.tsv"
    lines = table.read_text().splitlines()
    table.write_text("\n".join([lines[0] + "\tscanner"] + [f"{line}\tPrisma" for line in lines[1:]]) + "\n")
    assert planned(work) == GROUP_LEVEL


def test_a_new_or_edited_t1w_sidecar_reruns_only_the_group(work):
    anat = work / "cohort/bids/sub-HC01/ses-w00/anat"
    anat.mkdir(parents=True)
    sidecar = anat / "sub-HC01_ses-w00_T1w.json"
    sidecar.write_text('{"SoftwareVersions": "syngo MR E11"}\n')
    assert planned(work) == GROUP_LEVEL
    run_snakemake("--configfile", "config.yaml", cwd=work)
    assert planned(work) == set()
    sidecar.write_text('{"SoftwareVersions": "syngo MR XA30"}\n')
    assert planned(work) == GROUP_LEVEL
