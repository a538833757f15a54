"""The subject job (rule subject_volumes): its command line (arguments, tissue-map mode, logs, a
bad image with and without --keep-going) in real processes, and the rule's command as Snakemake
prints it."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import REPO, cohort_config, run_snakemake
from helpers import write_image

from brain_atrophy.measure.job import parse_arguments, session_images
from brain_atrophy.tables import read_frame


def test_label_images_in_the_order_given():
    images = ["--image", "w48", "b", "--image", "w0", "a"]
    arguments = parse_arguments(["--subject", "01", "--regions", "r.tsv", "--output", "o", *images])
    assert list(session_images(arguments).items()) == [("w48", "b"), ("w0", "a")]


def test_tissue_maps_grouped_by_session():
    arguments = parse_arguments(
        ["--subject", "01", "--regions", "r.tsv", "--output", "o", "--tissue", "GM", "--tissue", "WM"]
        + ["--tissue-map", "1", "GM", "g1", "--tissue-map", "1", "WM", "w1", "--tissue-map", "2", "GM", "g2"]
    )
    assert session_images(arguments) == {"1": {"GM": "g1", "WM": "w1"}, "2": {"GM": "g2"}}


@pytest.mark.parametrize("mode", [[], ["--image", "1", "a", "--tissue", "GM"]])
def test_either_label_images_or_tissue_maps(mode, capsys):
    with pytest.raises(SystemExit):
        parse_arguments(["--subject", "01", "--regions", "r.tsv", "--output", "o", *mode])
    assert "either --image" in capsys.readouterr().err


@pytest.fixture
def subject(tmp_path):
    """A subject with a good session and a session whose label image holds fractions."""
    regions = tmp_path / "regions.tsv"
    regions.write_text("region\tlabels\nthalamus\t10 49\n")
    good = np.zeros((8, 8, 8), dtype=np.int16)
    good[2:5, 2:5, 2:5] = 10
    write_image(tmp_path / "good_dseg.nii.gz", good, np.diag([1.0, 1.0, 2.0, 1.0]))
    write_image(tmp_path / "bad_dseg.nii.gz", good.astype(np.float32) + 0.5)
    return tmp_path, regions


def job_arguments(tmp_path, regions, session_file, subject="01") -> list[str]:
    arguments = ["--subject", subject, "--regions", regions]
    arguments += ["--image", "1", tmp_path / "good_dseg.nii.gz", "--image", "2", tmp_path / session_file]
    arguments += ["--output", tmp_path / f"sub-{subject}", "--log", tmp_path / f"sub-{subject}.log"]
    return list(map(str, arguments))


def run_job(tmp_path, regions, session_file, keep_going: bool):
    arguments = job_arguments(tmp_path, regions, session_file)
    command = [sys.executable, "-m", "brain_atrophy.measure.job", *arguments]
    env = {**os.environ, "BRAIN_ATROPHY_KEEP_GOING": "1" if keep_going else "0"}
    return subprocess.run(command, capture_output=True, text=True, env=env)


def test_a_subject_measured_and_logged(subject):
    tmp_path, regions = subject
    result = run_job(tmp_path, regions, "good_dseg.nii.gz", keep_going=False)
    assert result.returncode == 0, result.stderr
    volumes = read_frame(tmp_path / "sub-01" / "anat" / "sub-01_volumes.tsv")
    assert volumes["volume_mm3"].tolist() == [54.0, 54.0]  # 27 voxels of 2 mm³
    assert (tmp_path / "sub-01" / "figures" / "sub-01_desc-regions_qc.png").is_file()
    assert "sub-01 ses-2" in (tmp_path / "sub-01.log").read_text()


def test_a_bad_image_fails_the_job_naming_the_file(subject):
    tmp_path, regions = subject
    result = run_job(tmp_path, regions, "bad_dseg.nii.gz", keep_going=False)
    assert result.returncode == 1
    assert "bad_dseg.nii.gz" in result.stderr and "non-integral" in result.stderr
    assert "non-integral" in (tmp_path / "sub-01.log").read_text()


def test_under_keep_going_a_bad_image_leaves_only_its_record(subject):
    tmp_path, regions = subject
    result = run_job(tmp_path, regions, "bad_dseg.nii.gz", keep_going=True)
    assert result.returncode == 0, result.stderr
    assert "subject left out" in result.stderr
    files = sorted(
        p.relative_to(tmp_path / "sub-01") for p in (tmp_path / "sub-01").rglob("*") if p.is_file()
    )
    assert len(files) == 1
    record = read_frame(tmp_path / "sub-01" / files[0])
    assert record["file"].iloc[0].endswith("bad_dseg.nii.gz")


@pytest.mark.slow
def test_the_rules_command_runs_the_workflows_own_package(tiny_cohort, tmp_path):
    """The rule's shell command, as a dry run prints it, run by bash with no help from the
    environment: PYTHONPATH is the workflow's src/ and the interpreter the one running
    Snakemake, both written into the command, so it measures the subject."""
    out = tmp_path / "out"
    dry = run_snakemake(*cohort_config(tiny_cohort, out), "-n", "-p", cwd=tmp_path)
    printed = next(line for line in dry.stdout.splitlines() if "-m brain_atrophy.measure.job" in line)
    command = printed.split("Shell command:", 1)[-1].strip()  # how Snakemake labels it with -p
    assert f"PYTHONPATH={REPO / 'src'}" in command.split(" python ", 1)[0]
    subject = command.split("--subject ", 1)[1].split()[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "BRAIN_ATROPHY"))}
    (out / "logs" / "subject_volumes").mkdir(parents=True)
    subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, check=True, cwd=tmp_path)
    volumes = read_frame(out / f"sub-{subject}" / "anat" / f"sub-{subject}_volumes.tsv")
    assert len(volumes) > 0 and (volumes["volume_mm3"] > 0).any()


def libraries_imported_by(modules: list[str], libraries: tuple[str, ...]) -> list[str]:
    """Which of ``libraries`` importing ``modules`` pulls in, in a fresh interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in {libraries!r} if m in sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def test_the_report_and_qc_steps_import_no_statsmodels():
    """The steps after the model (QC, methods, the page) read its tables through
    stats/columns.py: their processes start without statsmodels and scipy.stats."""
    modules = ["brain_atrophy.stats.columns", "brain_atrophy.stats.qc", "brain_atrophy.report.methods",
               "brain_atrophy.report.page"]  # fmt: skip
    assert libraries_imported_by(modules, ("statsmodels", "scipy.stats")) == []


def test_the_measuring_package_imports_no_pandas_and_no_statsmodels():
    """measure/ (the per-subject hot path) stays on numpy and nibabel: every module of it,
    imported in a fresh interpreter, pulls in neither of the group step's libraries."""
    import pkgutil

    import brain_atrophy.measure as measure

    modules = [f"brain_atrophy.measure.{m.name}" for m in pkgutil.iter_modules(measure.__path__)]
    assert "brain_atrophy.measure.job" in modules and "brain_atrophy.measure.atlas" in modules
    assert libraries_imported_by(modules, ("pandas", "statsmodels")) == []
