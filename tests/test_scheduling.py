"""Snakemake's scheduler as the profiles set it: a long job-rate clock must not keep the
process alive once the run is over (rules/common.smk cancels the clock's timers)."""

import time

import pytest
from conftest import cohort_config, run_snakemake

pytestmark = pytest.mark.slow


def test_the_run_exits_when_its_last_step_ends(tiny_cohort, tmp_path):
    """With the default profile's 60 s clock, the timer started by the last scheduling pass
    would hold the process for up to a minute after Snakemake wrote its final log line."""
    run_snakemake(*cohort_config(tiny_cohort, tmp_path / "out"), cwd=tmp_path)
    ended = time.time()
    log = max((tmp_path / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    assert "Complete log" in log.read_text() or "steps (100%) done" in log.read_text()
    assert ended - log.stat().st_mtime < 20
