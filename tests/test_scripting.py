"""run_script: the rule's log gets logging, Python warnings and stderr; the console gets only
the one-line messages meant for it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import warnings
from types import SimpleNamespace

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.scripting import console, keep_going, run_script


def fake_smk(tmp_path, rule="some_rule"):
    return SimpleNamespace(log=[str(tmp_path / "rule.log")], rule=rule)


def noisy(smk):
    logging.getLogger("brain_atrophy.test").info("an info line")
    warnings.warn("a library's warning", UserWarning, stacklevel=1)
    print("a stray line on stderr", file=sys.stderr)
    console("brain-atrophy: WARNING: meant for the console")


def test_warnings_and_stderr_go_to_the_log_not_the_console(tmp_path, capsys):
    smk = fake_smk(tmp_path)
    run_script(smk, noisy)
    log = (tmp_path / "rule.log").read_text()
    assert "an info line" in log
    assert "UserWarning: a library's warning" in log
    assert "a stray line on stderr" in log
    out, err = capsys.readouterr()
    assert "a library's warning" not in out + err and "a stray line" not in out + err
    assert err == "brain-atrophy: WARNING: meant for the console\n"


def test_input_error_line_reaches_the_console(tmp_path, capsys):
    def bad_input(smk):
        print("noise before the fault", file=sys.stderr)
        raise InputError("sub-01_dseg.nii.gz", "label image holds non-integral values")

    with pytest.raises(SystemExit) as stopped:
        run_script(fake_smk(tmp_path, "subject_volumes"), bad_input)
    assert stopped.value.code == 1
    err = capsys.readouterr().err
    assert err == (
        "brain-atrophy: ERROR in rule subject_volumes: "
        "sub-01_dseg.nii.gz: label image holds non-integral values\n"
    )
    log = (tmp_path / "rule.log").read_text()
    assert "noise before the fault" in log and "ERROR sub-01_dseg.nii.gz: label image" in log


def test_unexpected_failure_line_reaches_the_console_traceback_the_log(tmp_path, capsys):
    def broken(smk):
        raise KeyError("volume_mm3")

    with pytest.raises(SystemExit):
        run_script(fake_smk(tmp_path, "group_statistics"), broken)
    err = capsys.readouterr().err
    assert err.startswith(
        "brain-atrophy: unexpected failure in rule group_statistics: KeyError: 'volume_mm3'"
    )
    assert f"(traceback in {tmp_path / 'rule.log'})" in err and "Traceback" not in err
    log = (tmp_path / "rule.log").read_text()
    assert "Traceback (most recent call last)" in log and "KeyError: 'volume_mm3'" in log


def test_everything_is_restored_afterwards(tmp_path, capsys):
    stderr, handlers = sys.stderr, list(logging.getLogger().handlers)
    run_script(fake_smk(tmp_path), noisy)
    assert sys.stderr is stderr and logging.getLogger().handlers == handlers
    print("after the run", file=sys.stderr)
    console("console after the run")
    assert capsys.readouterr().err.endswith("after the run\nconsole after the run\n")
    assert "after the run" not in (tmp_path / "rule.log").read_text()


def test_without_a_log_everything_stays_on_the_console(capsys):
    run_script(SimpleNamespace(log=[], rule="r"), noisy)
    err = capsys.readouterr().err
    assert "a stray line on stderr" in err and "meant for the console" in err


def test_a_real_script_process(tmp_path):
    """As Snakemake runs a script: its own process, stderr a real file descriptor. Output of C
    code (written to the descriptor, not through sys.stderr) goes to the log as well."""
    script = tmp_path / "script.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import os, sys, warnings
            from types import SimpleNamespace
            from brain_atrophy.scripting import console, keep_going, run_script

            def main(smk):
                warnings.warn("deprecated thing", DeprecationWarning, stacklevel=1)
                print("python stderr", file=sys.stderr)
                os.write(2, b"descriptor stderr\\n")
                print("stdout stays", flush=True)
                console("brain-atrophy: WARNING: to the console")

            run_script(SimpleNamespace(log=[{str(tmp_path / "rule.log")!r}], rule="r"), main)
            print("after", file=sys.stderr)
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-W", "always", str(script)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "always"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "brain-atrophy: WARNING: to the console\nafter\n"
    assert result.stdout == "stdout stays\n"
    log = (tmp_path / "rule.log").read_text()
    for text in ("DeprecationWarning: deprecated thing", "python stderr", "descriptor stderr"):
        assert text in log


def damaged(output):
    def work():
        output.mkdir()
        (output / "partial.tsv").write_text("half a table")
        raise InputError(output / "scan.nii.gz", "is not a NIfTI file")

    return work


def test_keep_going_leaves_only_the_record_and_one_console_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("BRAIN_ATROPHY_KEEP_GOING", "1")
    output, records = tmp_path / "sub-01", []
    keep_going(damaged(output), output, records.append, "subject")
    assert not output.exists()  # the partial table went; writing the record is the caller's
    (err,) = records
    assert err.fault == "is not a NIfTI file"
    assert capsys.readouterr().err == f"brain-atrophy: ERROR (subject left out, --keep-going): {err}\n"


def test_without_keep_going_the_input_error_stops_the_job(tmp_path, monkeypatch):
    monkeypatch.delenv("BRAIN_ATROPHY_KEEP_GOING", raising=False)
    output, records = tmp_path / "sub-01", []
    with pytest.raises(InputError, match="is not a NIfTI file"):
        keep_going(damaged(output), output, records.append, "subject")
    assert records == []
