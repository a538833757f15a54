"""A real SLURM cluster: the pipeline through the SLURM workflow profile equals a local run.

The cluster is the one `tools/run-tests.sh` starts (Debian's slurmctld/slurmd with slurmdbd
accounting); without one, the test is skipped with the reason, or fails where
BRAIN_ATROPHY_REQUIRE_SLURM=1 (CI).
"""

import re
import shutil
import subprocess

import pytest
from conftest import REPO, cohort_config, require_or_skip, run_snakemake

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


def test_pipeline_runs_as_slurm_jobs_and_matches_a_local_run(tiny_cohort, tmp_path):
    require_or_skip(
        plugin_installed(), "snakemake-executor-plugin-slurm is not installed", "BRAIN_ATROPHY_REQUIRE_SLURM"
    )
    require_or_skip(
        cluster_ready(),
        "no SLURM cluster with accounting answers (see tools/run-tests.sh)",
        "BRAIN_ATROPHY_REQUIRE_SLURM",
    )
    cohort = shutil.copytree(tiny_cohort, tmp_path / "cohort")
    slurm_out, local_out = tmp_path / "slurm", tmp_path / "local"
    result = run_snakemake(
        "--workflow-profile",
        REPO / "profiles" / "slurm",
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--seconds-between-status-checks",
        "3",
        *cohort_config(cohort, slurm_out),
        cwd=tmp_path,
        timeout=900,
    )
    log = result.stdout + result.stderr
    job_ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    # the four subjects' jobs (volumes and QC mosaics) go out as one bundle; the group
    # statistics and the figures as two more; light group steps run on the submit host
    assert len(job_ids) == 3, log
    assert "Group job subjects" in log
    accounting = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-o", "JobID,State", "-j", ",".join(job_ids)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    states = dict(line.split("|") for line in accounting.split())
    assert states == {job_id: "COMPLETED" for job_id in job_ids}, accounting

    # the cluster jobs measured subjects from shell:, the local form runs them in Snakemake's
    # threads; the submitting process recorded the local form's code, so nothing reruns
    again = run_snakemake(*cohort_config(cohort, slurm_out), "-n", cwd=tmp_path)
    assert "Nothing to be done" in again.stdout + again.stderr, again.stdout + again.stderr

    run_snakemake(*cohort_config(cohort, local_out), cwd=tmp_path)
    tables = sorted(p.relative_to(local_out) for p in local_out.rglob("*.tsv"))
    assert len(tables) > 10
    assert sorted(p.relative_to(slurm_out) for p in slurm_out.rglob("*.tsv")) == tables
    for table in tables:
        assert (slurm_out / table).read_bytes() == (local_out / table).read_bytes(), table
