"""The BIDS-Derivatives files at the output root: description, .bidsignore, column sidecars."""

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

from brain_atrophy.measure import subject
from brain_atrophy.report import derivatives


def test_volumes_sidecar_describes_exactly_the_columns_the_volume_tables_have():
    written = set(subject.SESSION_COLUMNS) | set(subject.VOLUME_COLUMNS)
    described = set(derivatives.VOLUME_COLUMNS)
    assert written - described == set(), "columns written but not described"
    assert described - written == set(), "columns described but never written"


def test_every_column_has_a_description_and_volumes_are_in_cubic_millimetres():
    for column, entry in derivatives.VOLUME_COLUMNS.items():
        assert entry["Description"].strip(), column
        if column.endswith("_mm3"):
            assert entry["Units"] == "mm^3", column
    volumes = derivatives.VOLUME_COLUMNS
    assert "n_voxels" in volumes and "Units" not in volumes["n_voxels"]  # a count, no unit
    assert "det" in volumes["voxel_mm3"]["Description"] and "affine" in volumes["voxel_mm3"]["Description"]
    assert "CSF" in volumes["labelled_mm3"]["Description"]


def test_bidsignore_lists_folders_without_trailing_slash_and_the_top_level_sidecar():
    text = derivatives.bidsignore()
    patterns = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert patterns == derivatives.bidsignore_patterns()
    assert not [p for p in patterns if p.endswith("/")]  # "group/" would leave the folder flagged
    for needed in ("/group", "/figures", "sub-*/figures", "/logs", "*_volumes.tsv"):
        assert needed in patterns
    assert f"/{derivatives.VOLUMES_SIDECAR}" in patterns
    assert text.endswith("\n")


def test_dataset_description_names_sources_as_file_uris(tmp_path):
    source = tmp_path / "raw data" / "bids"  # a space must be percent-encoded in the URI
    description = derivatives.dataset_description("1.2.3", "https://example.org/code", [source, "rel/seg"])
    assert description["DatasetType"] == "derivative"
    assert description["GeneratedBy"] == [
        {"Name": "brain-atrophy", "Version": "1.2.3", "CodeURL": "https://example.org/code"}
    ]
    urls = [entry["URL"] for entry in description["SourceDatasets"]]
    assert " " not in urls[0] and "%20" in urls[0]
    parsed = [urlparse(url) for url in urls]
    assert [p.scheme for p in parsed] == ["file", "file"]
    assert Path(unquote(parsed[0].path)) == source.resolve()
    assert Path(unquote(parsed[1].path)) == Path("rel/seg").resolve()  # relative paths made absolute


def test_write_dataset_files(tmp_path):
    paths = {
        "description_path": tmp_path / "dataset_description.json",
        "bidsignore_path": tmp_path / ".bidsignore",
        "volumes_path": tmp_path / "volumes.json",
    }
    derivatives.write_dataset_files(**paths, version="0.1.0", code_url="https://x.org", sources=[tmp_path])
    assert json.loads(paths["description_path"].read_text())["BIDSVersion"] == derivatives.BIDS_VERSION
    assert paths["bidsignore_path"].read_text() == derivatives.bidsignore()
    volumes = json.loads(paths["volumes_path"].read_text(encoding="utf-8"))
    assert volumes == derivatives.VOLUME_COLUMNS
    assert "×" in volumes["volume_mm3"]["Description"]  # written as UTF-8, not escaped
