"""Dry runs on trees of empty files, as CI pipelines validate a workflow before real data."""

import re

import pytest
from conftest import REPO, job_counts, run_snakemake

pytestmark = pytest.mark.slow


def empty_tree(root, n_subjects, sessions_per_subject):
    (root / "bids").mkdir(parents=True)
    (root / "bids" / "participants.tsv").write_bytes(b"")
    for s in range(n_subjects):
        subject = f"S{s:05d}"
        (root / "bids" / f"sub-{subject}").mkdir()
        (root / "bids" / f"sub-{subject}" / f"sub-{subject}_sessions.tsv").write_bytes(b"")
        for k in range(sessions_per_subject):
            anat = root / "seg" / f"sub-{subject}" / f"ses-{k}" / "anat"
            anat.mkdir(parents=True)
            (anat / f"sub-{subject}_ses-{k}_dseg.nii.gz").write_bytes(b"")


def test_dry_run_over_1040_empty_sessions(tmp_path):
    empty_tree(tmp_path, 260, 4)
    (tmp_path / "config.yaml").write_text(
        "bids_dir: bids\nsegmentation_dir: seg\nregions: freesurfer\nreference_group: HC\noutput_dir: out\n"
    )
    result = run_snakemake("-n", "--configfile", "config.yaml", cwd=tmp_path)
    counts = job_counts(result.stdout)
    per_subject = {"subject_volumes"}
    assert all(counts[rule] == 260 for rule in per_subject)
    group_level = {rule: n for rule, n in counts.items() if rule not in per_subject | {"total"}}
    assert "group_statistics" in group_level and set(group_level.values()) == {1}
    assert counts["total"] == 260 + len(group_level)


@pytest.mark.parametrize("profile", ["default", "large-cohort", "slurm"])
def test_every_workflow_profile_is_valid(tmp_path, profile):
    empty_tree(tmp_path, 3, 2)
    (tmp_path / "config.yaml").write_text(
        "bids_dir: bids\nsegmentation_dir: seg\nregions: freesurfer\nreference_group: HC\noutput_dir: out\n"
    )
    result = run_snakemake(
        "-n", "--workflow-profile", REPO / "profiles" / profile, "--configfile", "config.yaml", cwd=tmp_path
    )
    assert re.search(r"^subject_volumes\s+3$", result.stdout, flags=re.MULTILINE), result.stdout
