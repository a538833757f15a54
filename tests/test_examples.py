"""The example configs of config/examples/, one per input layout: each plans, in a real dry run,
one job per subject reading exactly that layout's files and the group-level jobs reading the
time tables, whose times fit the session labels; and git keeps every placeholder."""

import re
import shutil
import subprocess

import pytest
import yaml
from conftest import GROUP_RULES, REPO, job_counts, planned_jobs, run_snakemake

from brain_atrophy.inputs.names import source_t1w_stem
from brain_atrophy.inputs.times import WEEKS_PER_YEAR, session_times, years_since_first
from brain_atrophy.tables import read_frame

EXAMPLES = REPO / "config" / "examples"
SESSIONS_TSV = "bids/sub-*/sub-*_sessions.tsv"
LABEL_IMAGES = "derivatives/segmentation/sub-*/ses-*/anat/*_dseg.nii.gz"
# per example, relative to its folder: the files its subject jobs must read (label images or
# tissue maps, and T1w images), the time tables its group job must read, and the time source
EXPECTED = {
    "bids_dseg": (["derivatives/segmentation/sub-*/ses-*/anat/*"], [SESSIONS_TSV], "sessions.tsv acq_time"),
    "freesurfer_long": (["subjects/*.long.*/mri/*.mgz"], [SESSIONS_TSV], "sessions.tsv acq_time"),
    "tissue_maps": (
        [
            f"derivatives/fmriprep/sub-*/ses-*/anat/*_{kind}.nii.gz"
            for kind in ("label-GM_probseg", "label-WM_probseg", "desc-preproc_T1w")
        ],
        [SESSIONS_TSV],
        "sessions.tsv acq_time",
    ),
    "synthseg_pattern": (["synthseg/*_synthseg.nii.gz"], [SESSIONS_TSV], "sessions.tsv acq_time"),
    "time_scans_tsv": ([LABEL_IMAGES], ["bids/sub-*/ses-*/*_scans.tsv"], "scans.tsv acq_time"),
    "time_age_column": ([LABEL_IMAGES], [SESSIONS_TSV], "sessions.tsv age_at_scan (years)"),
}
PER_SUBJECT = "subject_volumes"


def test_every_example_folder_has_a_config_and_expectations():
    assert sorted(p.name for p in EXAMPLES.iterdir() if p.is_dir()) == sorted(EXPECTED)
    for name in EXPECTED:
        config = yaml.safe_load((EXAMPLES / name / "config.yaml").read_text())
        assert config["output_dir"] == f"results/examples/{name}"


def test_placeholders_are_empty_and_kept_by_git():
    files = [p for p in EXAMPLES.rglob("*") if p.is_file()]
    images = [p for p in files if p.name.endswith((".nii.gz", ".nii", ".mgz"))]
    assert images and all(p.stat().st_size == 0 for p in images)
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", *map(str, files)], cwd=REPO, capture_output=True, text=True
    )
    assert ignored.returncode == 1, f"git ignores example files:\n{ignored.stdout}"


def example_files(root, patterns):
    return {str(p.relative_to(root.parents[2])) for pattern in patterns for p in root.glob(pattern)}


def session_label(path):
    """'…/sub-HC01_ses-w24.long.sub-HC01_base/mri/aseg.mgz' → 'w24'."""
    return re.search(r"ses-([a-zA-Z0-9]+)", path).group(1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_dry_runs_with_one_job_per_subject(name, tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "config" / "examples")
    root = tmp_path / "config" / "examples" / name
    config = yaml.safe_load((root / "config.yaml").read_text())
    participants = read_frame(root / "bids" / "participants.tsv")
    subjects = {p[4:] for p in participants["participant_id"]}
    assert len(subjects) >= 2 and config["reference_group"] in set(participants["group"])

    result = run_snakemake("-n", "--configfile", f"config/examples/{name}/config.yaml", cwd=tmp_path)
    expected = {
        PER_SUBJECT: len(subjects),
        "dataset_description": 1,
        "all": 1,
        **dict.fromkeys(GROUP_RULES, 1),
    }
    assert job_counts(result.stdout) == {**expected, "total": sum(expected.values())}, result.stdout

    jobs = planned_jobs(result.stdout)
    inside = f"config/examples/{name}/"
    per_subject = {job["wildcards"]["subject"]: job for job in jobs if job["rule"] == PER_SUBJECT}
    assert set(per_subject) == subjects
    read = {path for job in per_subject.values() for path in job["input"] if path.startswith(inside)}
    image_patterns, time_patterns, time_source = EXPECTED[name]
    assert read == example_files(root, image_patterns)
    for subject, job in per_subject.items():  # each job reads its own subject's files only
        assert all(f"sub-{subject}" in path for path in job["input"] if path.startswith(inside))
    (group,) = [job for job in jobs if job["rule"] == "group_statistics"]
    tables = {path for path in group["input"] if path.startswith(inside)}
    assert tables == {f"{inside}bids/participants.tsv"} | example_files(root, time_patterns)

    # the time tables hold a time for every session with an image, from the example's source,
    # within a week of its label's (w<weeks>)
    for subject, job in per_subject.items():
        images = [path for path in job["input"] if path.startswith(inside)]
        sessions = sorted({session_label(path) for path in images})
        sessions_tsv = root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv"
        scans = {
            s: root / "bids" / f"sub-{subject}" / f"ses-{s}" / f"sub-{subject}_ses-{s}_scans.tsv"
            for s in sessions
        }
        times = session_times(
            sessions,
            sessions_tsv if sessions_tsv.exists() else None,
            {s: path for s, path in scans.items() if path.exists()},
            {session_label(path): source_t1w_stem(path) for path in images if source_t1w_stem(path)},
            config.get("time"),
        )
        assert {t.source for t in times.values()} == {time_source}
        for session, years in years_since_first(times).items():
            assert abs(years * WEEKS_PER_YEAR - int(session[1:])) < 1, (subject, session, years)
