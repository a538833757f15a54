"""The official BIDS validator (bids-validator-deno, offline) on a real run's output dataset and on
the demo's input datasets: no errors (warnings are allowed)."""

import json
import shutil
import subprocess

import pytest
from conftest import require_or_skip

from brain_atrophy import paths
from brain_atrophy.report import derivatives

pytestmark = pytest.mark.slow

VALIDATOR = "bids-validator-deno"


def validate(dataset) -> tuple[int, list[dict]]:
    """The validator's exit status and its issues (``severity``, ``code``, ``location``)."""
    require_or_skip(
        shutil.which(VALIDATOR) is not None,
        f"{VALIDATOR} is not installed (pip install bids-validator-deno==3.0.2)",
        "BRAIN_ATROPHY_REQUIRE_VALIDATOR",
    )
    result = subprocess.run(
        [VALIDATOR, "--format", "json", str(dataset)], capture_output=True, text=True, timeout=300
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{VALIDATOR} gave no JSON ({result.returncode}):\n{result.stderr}") from None
    return result.returncode, report["issues"]["issues"]


def errors_of(issues) -> list[tuple[str, str]]:
    return sorted((i["code"], i.get("location", "")) for i in issues if i["severity"] == "error")


def assert_valid(dataset) -> list[dict]:
    status, issues = validate(dataset)
    errors = errors_of(issues)
    listing = "\n".join(f"  {code} {location}" for code, location in errors)
    assert not errors, f"{VALIDATOR}: {len(errors)} error(s) in {dataset}:\n{listing}"
    assert status == 0, f"{VALIDATOR} exit status {status} on {dataset} without an error listed"
    return issues


def test_pipeline_output_is_a_valid_bids_derivatives_dataset(default_run):
    assert_valid(default_run.out)


def test_demo_raw_dataset_is_valid(tiny_cohort):
    issues = assert_valid(tiny_cohort / "bids")
    # participants.json describes the columns BIDS does not define
    assert not [i for i in issues if i["code"] == "TSV_ADDITIONAL_COLUMNS_UNDEFINED"]


def test_demo_segmentation_derivatives_are_valid(tiny_cohort):
    assert_valid(tiny_cohort / "derivatives" / "segmentation")


def test_validator_flags_what_the_bidsignore_hides(default_run, tmp_path):
    """The .bidsignore is what makes the output pass: without it, or without the sidecars in it,
    the same tree has errors; with it, a --keep-going error record passes too."""
    copy = shutil.copytree(default_run.out, tmp_path / "results")
    (copy / "sub-HC01" / "sub-HC01_errors.tsv").write_text("participant_id\tfile\tfault\nsub-HC01\tx\ty\n")
    assert_valid(copy)

    kept = [p for p in derivatives.bidsignore_patterns() if p != "/volumes.json"]
    (copy / ".bidsignore").write_text("\n".join(kept) + "\n")
    _, issues = validate(copy)
    assert ("SIDECAR_WITHOUT_DATAFILE", "/volumes.json") in errors_of(issues)

    (copy / ".bidsignore").unlink()
    status, issues = validate(copy)
    flagged = {location for code, location in errors_of(issues) if code == "NOT_INCLUDED"}
    assert status == 16
    assert {"/group/", "/figures/", "/sub-HC01/sub-HC01_errors.tsv"} <= flagged
    assert "/sub-HC01/ses-w00/anat/sub-HC01_ses-w00_volumes.tsv" in flagged


def test_one_top_level_sidecar_describes_every_volume_table(default_run):
    out = default_run.out
    volumes = json.loads((out / paths.VOLUMES_SIDECAR).read_text(encoding="utf-8"))
    tables = sorted(out.glob("sub-*/ses-*/anat/*_volumes.tsv")) + sorted(out.glob("sub-*/anat/*_volumes.tsv"))
    assert len(tables) > 4
    for table in tables:
        header = table.read_text().splitlines()[0].split("\t")
        assert set(header) <= set(volumes), f"{table.name}: {set(header) - set(volumes)} not described"
    assert volumes["volume_mm3"]["Units"] == "mm^3"
    assert not list(out.rglob("sub-*_volumes.json"))  # inheritance: no per-session copies
    description = json.loads((out / "dataset_description.json").read_text())
    assert description["DatasetType"] == "derivative"
    assert {"Name", "Version", "CodeURL"} <= set(description["GeneratedBy"][0])
    assert [s["URL"][:8] for s in description["SourceDatasets"]] == ["file:///", "file:///"]
