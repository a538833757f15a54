"""The BIDS-Derivatives files at the output root, checked against the BIDS specification and the
volume tables a subject job writes beside them."""

import json
import re
import tomllib
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from conftest import REPO
from helpers import write_image

from brain_atrophy import paths
from brain_atrophy.measure.longitudinal import REGISTRATION_COLUMNS
from brain_atrophy.measure.subject import process_subject
from brain_atrophy.register.quality import POOR_ALIGNMENT, REGISTRATION_FAILED
from brain_atrophy.report import derivatives
from brain_atrophy.stats.columns import CHANGE_MEASURES

# BIDS 1.9.0, "Modality agnostic files" (dataset_description.json): REQUIRED in every dataset,
# and in a derivative dataset GeneratedBy too, with DatasetType "derivative".
REQUIRED_FIELDS = {"Name", "BIDSVersion"}
REQUIRED_FOR_DERIVATIVES = {"GeneratedBy", "DatasetType"}
# BIDS 1.9.0, "Common principles", tabular files: the keys a column's description may have
COLUMN_KEYS = {"LongName", "Description", "Levels", "Units", "Delimiter", "TermURL", "HED"}
SEMVER = re.compile(r"^\d+\.\d+\.\d+$")
REGISTRATION_FLAGS = (REGISTRATION_FAILED, POOR_ALIGNMENT)
PROJECT_NAME = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["name"]


@pytest.fixture
def output(tmp_path):
    """An output folder as a run leaves it: one subject's volume tables (two sessions, by the
    subject job's code) and the root files (by the dataset_description rule's code)."""
    regions = tmp_path / "regions.tsv"
    regions.write_text("region\tlabels\nthalamus\t10 49\nwhite_matter\t2 41\n")
    labels = np.zeros((8, 8, 8), dtype=np.int16)
    labels[2:5, 2:5, 2:5], labels[5:7, 5:7, 5:7] = 10, 41
    images = {s: write_image(tmp_path / "in" / f"sub-01_ses-{s}_dseg.nii.gz", labels) for s in ("1", "2")}
    out = tmp_path / "out"
    process_subject(subject="01", images=images, region_tsv=regions, subject_dir=out / "sub-01")
    derivatives.write_dataset_files(
        description_path=out / paths.DATASET_DESCRIPTION,
        bidsignore_path=out / paths.BIDSIGNORE,
        volumes_path=out / paths.VOLUMES_SIDECAR,
        version="1.2.3",
        code_url="https://example.org/code",
        sources=[tmp_path / "raw data" / "bids", "rel/seg"],  # a space, and a relative path
    )
    return out


def volume_tables(out) -> list[Path]:
    tables = sorted(out.glob("sub-*/**/*_volumes.tsv"))
    assert len(tables) == 3  # two sessions' and the subject's
    return tables


def test_the_volumes_sidecar_describes_exactly_the_columns_the_tables_have(output):
    described = set(json.loads((output / paths.VOLUMES_SIDECAR).read_text(encoding="utf-8")))
    headers = [table.read_text().splitlines()[0].split("\t") for table in volume_tables(output)]
    for header in headers:
        assert set(header) - described == set(), "columns written but not described"
    assert described - set().union(*headers) == set(), "columns described but never written"


def test_the_sidecar_applies_to_the_tables_by_inheritance(output):
    """BIDS inheritance: a sidecar at the root named <suffix>.json applies to every file with
    that suffix below it."""
    sidecar = output / paths.VOLUMES_SIDECAR
    assert sidecar.parent == output
    suffixes = {table.name.removesuffix(".tsv").rsplit("_", 1)[1] for table in volume_tables(output)}
    assert suffixes == {sidecar.stem}


def test_column_descriptions_use_bids_keys_and_units(output):
    text = (output / paths.VOLUMES_SIDECAR).read_bytes().decode("utf-8")
    assert not text.isascii() and "\\u" not in text  # × and Σ written as UTF-8, not escaped
    columns = json.loads(text)
    for column, entry in columns.items():
        assert set(entry) <= COLUMN_KEYS, column
        assert entry["Description"].strip(), column
        if column.endswith("_mm3"):  # the column's name says its unit: cubic millimetres
            assert entry["Units"] == "mm^3", column  # CMIXF-12, as BIDS asks
    assert "Units" not in columns["n_voxels"]  # a count


def test_dataset_description_has_the_fields_bids_requires(output):
    description = json.loads((output / paths.DATASET_DESCRIPTION).read_text())
    assert REQUIRED_FIELDS | REQUIRED_FOR_DERIVATIVES <= set(description)
    assert description["DatasetType"] == "derivative"
    assert SEMVER.match(description["BIDSVersion"])
    (generated_by,) = description["GeneratedBy"]
    assert generated_by == {"Name": PROJECT_NAME, "Version": "1.2.3", "CodeURL": "https://example.org/code"}


def test_source_datasets_are_absolute_file_uris(output, tmp_path):
    description = json.loads((output / paths.DATASET_DESCRIPTION).read_text())
    urls = [entry["URL"] for entry in description["SourceDatasets"]]
    assert " " not in urls[0] and "%20" in urls[0]  # the space percent-encoded
    parsed = [urlparse(url) for url in urls]
    assert [p.scheme for p in parsed] == ["file", "file"]
    assert Path(unquote(parsed[0].path)) == (tmp_path / "raw data" / "bids").resolve()
    assert Path(unquote(parsed[1].path)) == Path("rel/seg").resolve()  # relative paths made absolute


def test_bidsignore_lists_folders_without_trailing_slash(output):
    """The validator still flags a folder listed as "group/" (tests/test_paths.py checks which
    outputs the patterns cover, tests/test_bids_validator.py the validator itself)."""
    text = (output / paths.BIDSIGNORE).read_text()
    patterns = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert patterns and not [p for p in patterns if p.endswith("/")]
    assert text.endswith("\n")


def test_the_method_column_lists_every_change_measure(output):
    method = json.loads((output / paths.VOLUMES_SIDECAR).read_text(encoding="utf-8"))["method"]
    assert set(method["Levels"]) == set(CHANGE_MEASURES)
    assert all(text.strip() for text in method["Levels"].values())


def test_the_registration_sidecar_describes_the_registration_tables(tmp_path):
    """change_measure: jacobian: every sub-<label>_registration.tsv's columns, one sidecar at the
    root, written only when asked for."""
    files = {name: tmp_path / name for name in ("description.json", "bidsignore", "volumes.json")}
    derivatives.write_dataset_files(*files.values(), "1.2.3", "https://example.org/code", [tmp_path])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(files)
    derivatives.write_dataset_files(
        *files.values(),
        "1.2.3",
        "https://example.org/code",
        [tmp_path],
        registration_path=tmp_path / "registration.json",
    )
    columns = json.loads((tmp_path / "registration.json").read_text(encoding="utf-8"))
    assert list(columns) == REGISTRATION_COLUMNS  # the columns the subject job writes, in its order
    for column, entry in columns.items():
        assert set(entry) <= COLUMN_KEYS and entry["Description"].strip(), column
    assert set(columns["flags"]["Levels"]) == set(REGISTRATION_FLAGS) and columns["flags"]["Delimiter"] == ","
