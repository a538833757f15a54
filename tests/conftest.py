"""Shared fixtures: the real IBSR atlas, small demo cohorts, and real Snakemake runs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

# One BLAS thread per test process, set before numpy loads: the suite runs two workers on two
# cores, and OpenBLAS's idle threads spin for a core the other worker needs (CHANGELOG).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pytest  # noqa: E402
import yaml  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
pytest.register_assert_rewrite("helpers")  # the shared assertions report like the tests' own

from brain_atrophy.tables import read_frame  # noqa: E402
from brain_atrophy_demo import demo  # noqa: E402

# The slowest files first, longest first (by worker-seconds, `--durations=0`): with two
# workers (tools/run-tests.sh, whole files per worker) the long ones then run beside the rest of
# the suite, and the last files to start are short, so neither worker waits long at the end.
SLOW_FILES_FIRST = (
    "test_jacobian_workflow.py",
    "test_atlas_workflow.py",
    "test_real_datasets.py",
    "test_bad_input.py",
    "test_scanner_changes.py",
    "test_slurm.py",
    "test_workflow.py",
    "test_register_pair.py",
    "test_atlas_template.py",
    "test_layouts.py",
    "test_report.py",
    "test_incremental.py",
    "test_lme4.py",  # 32 s
)


def pytest_collection_modifyitems(items):
    def rank(item) -> int:
        name = item.path.name
        return SLOW_FILES_FIRST.index(name) if name in SLOW_FILES_FIRST else len(SLOW_FILES_FIRST)

    items.sort(key=rank)  # stable: every file keeps its own order


def require_or_skip(condition: bool, reason: str, env_var: str) -> None:
    """Skip with a reason on a developer machine; fail where ``env_var`` says it must run (CI)."""
    if condition:
        return
    if os.environ.get(env_var) == "1":
        pytest.fail(f"{reason}, but {env_var}=1 requires this test to run")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def atlas_path() -> Path:
    return demo.fetch_atlas(REPO / ".cache")


@pytest.fixture(scope="session")
def small_cohort(tmp_path_factory, atlas_path) -> Path:
    """A demo draw of 22 subjects (~70 sessions), shared read-only by the tests. Its treated
    groups carry planted pseudo-atrophy, so their planted rates hold from week 24 on: compare
    fitted rates with them under the study's window (tests/test_workflow.py's study_window)."""
    out = tmp_path_factory.mktemp("cohort")
    demo.build_demo(out, atlas_path, {"HC": 8, "OCR": 8, "IFN": 6}, seed=11)
    return out


def cohort_config(cohort: Path, output_dir: Path, **extra) -> list[str]:
    """``--configfile`` arguments for a config (written beside the outputs) that runs ``cohort``;
    an ``extra`` value of None leaves that key out."""
    values = {**demo.study_config(cohort, output_dir), **extra}
    values = {key: value for key, value in values.items() if value is not None}  # None: left out
    path = Path(output_dir).parent / f"config-{Path(output_dir).name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(values))
    return ["--configfile", str(path)]


def study_window(cohort) -> dict:
    """The analysis the model study ran: each subject's sessions from the week its group's
    planted rate applies from (truth/groups.tsv ``rate_from_week``: past the pseudo-atrophy of
    the treated groups), re-baselined there, for the groups with such a week."""
    truth = read_frame(cohort / "truth" / "groups.tsv").drop_duplicates("group")
    delayed = truth[truth["rate_from_week"] > 0]
    (start,) = set(delayed["rate_from_week"])
    return {"start_weeks": int(start), "rebaseline": True, "groups": sorted(delayed["group"])}


def snakemake_command(*args) -> list[str]:
    """The command line of a ``snakemake`` run on the repository's Snakefile with 2 cores, by this
    interpreter (its console script may sit behind a version manager's shim: pyenv's adds 50 ms)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        *map(str, args),
    ]


def run_snakemake(*args, cwd: Path, check: bool = True, timeout: int = 600) -> subprocess.CompletedProcess:
    """A real ``snakemake`` process on the repository's Snakefile, run from ``cwd``."""
    result = subprocess.run(
        snakemake_command(*args), cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


# The group job and the report jobs that follow it: one each, whatever the cohort's size.
GROUP_RULES = (
    "group_statistics",
    "quality_control",
    "figures",
    "qc_flagged",
    "methods",
    "check_inputs",
    "summary_report",
)
JOB_HEADER = re.compile(r"^\s*(?:local)?rule (\w+):$")  # grouped jobs are indented
JOB_FIELD = re.compile(r"^\s+(input|wildcards): (.*)$")


def job_counts(output: str) -> dict[str, int]:
    """{rule: number of jobs} from the job stats table a (dry) run prints, with 'total'."""
    return {rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.MULTILINE)}


def planned_jobs(output: str) -> list[dict]:
    """Each job a dry run lists: its ``rule``, ``wildcards`` ({name: value}) and ``input`` files."""
    jobs = []
    for line in output.splitlines():
        header = JOB_HEADER.match(line)
        if header:
            jobs.append({"rule": header.group(1), "wildcards": {}, "input": []})
            continue
        field = JOB_FIELD.match(line)
        if field and jobs:
            key, value = field.groups()
            if key == "input":
                jobs[-1]["input"] = value.split(", ")
            else:
                jobs[-1]["wildcards"] = dict(item.split("=", 1) for item in value.split(", "))
    return jobs


def r_available() -> bool:
    if shutil.which("Rscript") is None:
        return False
    probe = subprocess.run(
        ["Rscript", "-e", "suppressMessages({library(lme4); library(lmerTest)})"], capture_output=True
    )
    return probe.returncode == 0


@pytest.fixture(scope="session")
def lmer():
    """Fit the reference model with R lme4/lmerTest; skipped (or failed in CI) without R."""
    require_or_skip(r_available(), "R with lme4 and lmerTest is not installed", "BRAIN_ATROPHY_REQUIRE_R")

    def fit(
        volumes_tsv,
        participants_tsv,
        reference,
        covariates,
        out_tsv,
        structure="unstructured",
        slope=(),
        reference_scanner=None,
    ):
        subprocess.run(
            [
                "Rscript",
                str(REPO / "tests" / "R" / "lmer_rates.R"),
                str(volumes_tsv),
                str(participants_tsv),
                reference,
                ",".join(covariates) or "-",
                str(out_tsv),
                structure,
                ",".join(slope) or "-",
                reference_scanner or "-",
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        import pandas as pd

        return pd.read_csv(out_tsv, sep="\t")

    return fit


@pytest.fixture(scope="session")
def tiny_cohort(tmp_path_factory, atlas_path) -> Path:
    """Four subjects (~12 sessions): the base that bad-input tests copy and damage."""
    out = tmp_path_factory.mktemp("tiny")
    demo.build_demo(out, atlas_path, {"HC": 2, "OCR": 2}, seed=5)
    return out


# The default config on tiny_cohort. Paths are relative to the run's directory, so a copy of
# that directory is a finished run of its own (Snakemake sees the same inputs, nothing reruns);
# regions.tsv is a copy of the default preset (config/regions/freesurfer.tsv) so a copy can edit it.
DEFAULT_RUN_CONFIG = """bids_dir: cohort/bids
segmentation_dir: cohort/derivatives/segmentation
regions: regions.tsv
reference_group: HC
output_dir: out
"""


class FinishedRun(NamedTuple):
    """A finished run's working directory: cohort/, regions.tsv, config.yaml, out/, .snakemake/."""

    work: Path

    @property
    def cohort(self) -> Path:
        return self.work / "cohort"

    @property
    def out(self) -> Path:
        return self.work / "out"

    def copy(self, target: Path) -> FinishedRun:
        """A private copy to change or run in (mtimes kept, so it is finished too)."""
        return FinishedRun(Path(shutil.copytree(self.work, target, symlinks=True)))


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """{relative path: (size, mtime in ns)} of every file under ``root``."""
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="session")
def default_run(tiny_cohort, tmp_path_factory) -> FinishedRun:
    """The whole pipeline, default config, on tiny_cohort: run once, shared read-only by every
    test that reads a finished run (those that change or rerun one take ``default_run.copy``)."""
    work = tmp_path_factory.mktemp("default-run")
    shutil.copytree(tiny_cohort, work / "cohort")
    shutil.copy(REPO / "config" / "regions" / "freesurfer.tsv", work / "regions.tsv")
    (work / "config.yaml").write_text(DEFAULT_RUN_CONFIG)
    run_snakemake("--configfile", "config.yaml", cwd=work)
    before = tree_state(work)
    yield FinishedRun(work)
    # root ignores permission bits, so a test writing into the shared run is caught here instead
    changed = sorted(set(before.items()) ^ set(tree_state(work).items()))
    assert not changed, f"a test changed the shared default run: {changed[:10]}"
