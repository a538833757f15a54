"""The subject job (rule subject_volumes): its command line (arguments, tissue-map mode, logs, a
bad image with and without --keep-going) in real processes, the same job in threads of one
process (the rule's `run:` form, in Snakemake's process), and both of the rule's forms in real
Snakemake runs."""

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
from conftest import cohort_config, run_snakemake
from helpers import write_image

from brain_atrophy.measure.job import SubjectJobFailed, parse_arguments, run_in_process, session_images
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


def test_in_process_a_subject_measured_and_logged(subject):
    tmp_path, regions = subject
    run_in_process(job_arguments(tmp_path, regions, "good_dseg.nii.gz"))
    volumes = read_frame(tmp_path / "sub-01" / "anat" / "sub-01_volumes.tsv")
    assert volumes["volume_mm3"].tolist() == [54.0, 54.0]
    assert "sub-01 ses-2" in (tmp_path / "sub-01.log").read_text()


def test_in_process_a_bad_image_raises_after_the_same_lines(subject, monkeypatch, capsys):
    tmp_path, regions = subject
    monkeypatch.setenv("BRAIN_ATROPHY_KEEP_GOING", "0")
    with pytest.raises(SubjectJobFailed, match="bad_dseg.nii.gz"):
        run_in_process(job_arguments(tmp_path, regions, "bad_dseg.nii.gz"))
    console = capsys.readouterr().err
    assert console.startswith("brain-atrophy: ERROR in rule subject_volumes: ") and "non-integral" in console
    assert "ERROR" in (tmp_path / "sub-01.log").read_text()


def test_in_process_console_lines_go_to_the_console_given(subject, monkeypatch, capsys):
    """In Snakemake's process the rule passes Snakemake's logger: its lock keeps the line whole
    among Snakemake's own output, which a plain write to stderr from a thread cannot."""
    tmp_path, regions = subject
    monkeypatch.setenv("BRAIN_ATROPHY_KEEP_GOING", "0")
    lines = []
    with pytest.raises(SubjectJobFailed):
        run_in_process(job_arguments(tmp_path, regions, "bad_dseg.nii.gz"), console=lines.append)
    assert len(lines) == 1 and lines[0].startswith("brain-atrophy: ERROR in rule subject_volumes: ")
    assert capsys.readouterr().err == ""


def test_in_process_under_keep_going_a_bad_image_leaves_only_its_record(subject, monkeypatch, capsys):
    tmp_path, regions = subject
    monkeypatch.setenv("BRAIN_ATROPHY_KEEP_GOING", "1")
    run_in_process(job_arguments(tmp_path, regions, "bad_dseg.nii.gz"))
    assert "subject left out" in capsys.readouterr().err
    assert [p.name for p in (tmp_path / "sub-01").rglob("*") if p.is_file()] == ["sub-01_errors.tsv"]


def test_in_process_jobs_in_parallel_threads_keep_their_own_logs(subject):
    tmp_path, regions = subject
    failures = []

    def job(label):
        try:
            run_in_process(job_arguments(tmp_path, regions, "good_dseg.nii.gz", subject=label))
        except Exception as err:  # reported below: an exception in a thread would pass silently
            failures.append(err)

    threads = [threading.Thread(target=job, args=(label,)) for label in ("A", "B", "C", "D")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    for label in ("A", "B", "C", "D"):
        lines = (tmp_path / f"sub-{label}.log").read_text().splitlines()
        sessions = [line.split(" INFO ")[1].split(":")[0] for line in lines]
        assert sessions == [f"sub-{label} ses-1", f"sub-{label} ses-2"]


@pytest.mark.slow
def test_both_forms_of_the_rule_write_the_same_outputs(tiny_cohort, tmp_path):
    """A local run measures subjects in Snakemake's threads; subject_jobs_in_snakemake: false
    starts a process per subject, as cluster jobs do. The per-subject outputs are identical."""
    outputs = {}
    for in_snakemake in (True, False):
        out = tmp_path / f"out-{in_snakemake}"
        config = cohort_config(tiny_cohort, out, subject_jobs_in_snakemake=in_snakemake)
        result = run_snakemake(*config, "--until", "subject_volumes", "-p", cwd=tmp_path)
        # -p prints a shell command for the process form only
        assert ("-m brain_atrophy.measure.job" in result.stdout + result.stderr) is not in_snakemake
        files = [p for p in out.rglob("sub-*/**/*") if p.is_file()]
        outputs[in_snakemake] = {p.relative_to(out): p.read_bytes() for p in files}
        logs = sorted((out / "logs" / "subject_volumes").glob("*.log"))
        assert logs and all(" INFO sub-" in log.read_text() for log in logs)
    assert len(outputs[True]) > 10
    assert outputs[True] == outputs[False]


@pytest.mark.slow
def test_the_rules_command_runs_the_workflows_own_package(tiny_cohort, tmp_path):
    """The rule's shell command, as a dry run prints it, run by bash: PYTHONPATH starts with
    BRAIN_ATROPHY_SRC (set by rules/common.smk), so the workflow's own src/ wins over any
    installed copy, and BRAIN_ATROPHY_PYTHON is the interpreter. A probe package stands in."""
    config = cohort_config(tiny_cohort, tmp_path / "out", subject_jobs_in_snakemake=False)
    dry = run_snakemake(*config, "-n", "-p", cwd=tmp_path)
    printed = next(line for line in dry.stdout.splitlines() if "-m brain_atrophy.measure.job" in line)
    command = printed.split("Shell command:", 1)[-1].strip()  # how Snakemake labels it with -p
    probe = tmp_path / "probe" / "brain_atrophy"
    probe.mkdir(parents=True)
    (probe / "__init__.py").write_text("")
    (probe / "subject_job.py").write_text("import sys\nprint('probe', sys.executable, sys.argv[1:3])\n")
    env = {**os.environ, "BRAIN_ATROPHY_SRC": str(probe.parent), "BRAIN_ATROPHY_PYTHON": sys.executable}
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.startswith(f"probe {sys.executable} ['--subject', ")
