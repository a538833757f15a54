"""A real SLURM cluster: the pipeline through the SLURM workflow profile equals a local run, and
switching between the two reruns no subject, either way.

The cluster is the one `tools/run-tests.sh` starts (Debian's slurmctld/slurmd with slurmdbd
accounting); without one, the cluster run is skipped with the reason, or fails where
BRAIN_ATROPHY_REQUIRE_SLURM=1 (CI).
"""

import re
import shutil
import subprocess

import pytest
from conftest import REPO, job_counts, require_or_skip, run_snakemake

pytestmark = [pytest.mark.slow, pytest.mark.slurm]


def cluster_ready() -> bool:
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True, timeout=20)
        accounting = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-o", "JobID"], capture_output=True, timeout=20
        )
    except subprocess.TimeoutExpired:
        return False
    usable = {"idle", "mix", "alloc", "comp"}
    return states.returncode == 0 and bool(usable & set(states.stdout.split())) and accounting.returncode == 0


def plugin_installed() -> bool:
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        return False
    return True


SLURM_PROFILE = ["--workflow-profile", REPO / "profiles" / "slurm"]


def require_slurm(cluster: bool = True) -> None:
    require_or_skip(
        plugin_installed(), "snakemake-executor-plugin-slurm is not installed", "BRAIN_ATROPHY_REQUIRE_SLURM"
    )
    if cluster:
        require_or_skip(
            cluster_ready(),
            "no SLURM cluster with accounting answers (see tools/run-tests.sh)",
            "BRAIN_ATROPHY_REQUIRE_SLURM",
        )


def test_pipeline_runs_as_slurm_jobs_and_matches_a_local_run(default_run, tmp_path):
    require_slurm()
    # the local run's inputs and config (paths relative to the run's directory), not its outputs
    for name in ("cohort", "regions.tsv", "config.yaml"):
        source = default_run.work / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, tmp_path / name)
    result = run_snakemake(
        *SLURM_PROFILE,
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "3",
        "--configfile",
        "config.yaml",
        cwd=tmp_path,
        timeout=900,
    )
    log = result.stdout + result.stderr
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    # the four subjects' jobs (volumes and QC mosaics) go out as one bundle; the group
    # statistics and the figures as two more; light group steps run on the submit host
    assert len(job_ids) == 3, log
    assert len(re.findall(r"slurm_logs/group_subjects_", log)) == 1, log  # the bundle
    accounting = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split("|") for line in accounting.split())
    assert states == {job_id: "COMPLETED" for job_id in job_ids}, accounting

    # a cluster job runs the same command as a local one: a local run finds nothing to redo
    again = run_snakemake("--configfile", "config.yaml", "-n", cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr

    slurm_out, local_out = tmp_path / "out", default_run.out
    tables = sorted(p.relative_to(local_out) for p in local_out.rglob("*.tsv"))
    assert len(tables) > 10
    assert sorted(p.relative_to(slurm_out) for p in slurm_out.rglob("*.tsv")) == tables
    for table in tables:
        assert (slurm_out / table).read_bytes() == (local_out / table).read_bytes(), table


def test_a_slurm_run_after_a_local_run_plans_no_subject(default_run, tmp_path):
    require_slurm(cluster=False)  # a dry run submits nothing: the profile and the plugin suffice
    run = default_run.copy(tmp_path / "run")
    dry_run = ["-n", *SLURM_PROFILE, "--configfile", "config.yaml"]
    fresh = run_snakemake(*dry_run, "--config", "output_dir=fresh", cwd=run.work)
    # into an empty folder it plans every subject: the job counts are read from such a dry run
    assert job_counts(fresh.stdout)["subject_volumes"] == 4, fresh.stdout
    after_local = run_snakemake(*dry_run, cwd=run.work)
    counts = job_counts(after_local.stdout)
    assert counts.get("subject_volumes", 0) == 0, after_local.stdout
    assert counts == {} and "Nothing to be done" in after_local.stdout + after_local.stderr, counts
