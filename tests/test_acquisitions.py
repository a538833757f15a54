"""Acquisitions (scanners) per session from BIDS sidecars and sessions.tsv, on real small trees."""

from __future__ import annotations

import builtins
import io
import json
import os

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.acquisitions import (
    DEFAULT_KEYS,
    acquisition_label,
    session_acquisitions,
    unknown_sessions,
)
from brain_atrophy.inputs.sidecars import input_files, subject_layouts, top_level_sidecars

SKYRA = {
    "Manufacturer": "Siemens",
    "ManufacturersModelName": "Skyra",
    "MagneticFieldStrength": 3,
    "SoftwareVersions": "syngo MR E11",
}


def write(root, relative, content=None):
    """A file under ``root``: a dict as JSON, a string verbatim, None as an empty image."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    if content is None:
        path.write_bytes(b"")
    elif isinstance(content, dict):
        path.write_text(json.dumps(content, indent=2))
    else:
        path.write_text(content)
    return path


def image(root, subject, session, entities=""):
    """An (empty) T1w image, e.g. entities 'run-1_'."""
    name = f"sub-{subject}_ses-{session}_{entities}T1w.nii.gz"
    return write(root, f"sub-{subject}/ses-{session}/anat/{name}")


def sidecar(root, subject, session, content, entities=""):
    name = f"sub-{subject}_ses-{session}_{entities}T1w.json"
    return write(root, f"sub-{subject}/ses-{session}/anat/{name}", content)


def sessions_tsv(root, subject, text):
    return write(root, f"sub-{subject}/sub-{subject}_sessions.tsv", text)


def by_session(rows):
    return {(row["participant_id"], row["session_id"]): row for row in rows}


def test_inheritance_nearest_level_wins_per_key(tmp_path):
    write(tmp_path, "T1w.json", SKYRA | {"DeviceSerialNumber": "111"})
    write(tmp_path, "sub-1/sub-1_T1w.json", {"SoftwareVersions": "syngo MR E11 subject"})
    write(tmp_path, "sub-1/ses-b/sub-1_ses-b_T1w.json", {"SoftwareVersions": "syngo MR XA30"})
    image(tmp_path, "1", "a")
    image(tmp_path, "1", "b")
    sidecar(tmp_path, "1", "b", {"ManufacturersModelName": "Prisma"})
    # Not parents of the session's anat folder, or not matching its entities: never applied.
    write(tmp_path, "sub-1/anat/sub-1_T1w.json", {"Manufacturer": "GE"})
    write(tmp_path, "acq-fast_T1w.json", {"Manufacturer": "Philips"})
    write(tmp_path, "sub-1/ses-b/sub-1_ses-b_bold.json", {"Manufacturer": "Philips"})
    write(tmp_path, "sub-2/sub-2_T1w.json", {"Manufacturer": "Philips"})

    rows = by_session(session_acquisitions(tmp_path, {"sub-1": ["ses-a", "ses-b"]}))
    a, b = rows["sub-1", "ses-a"], rows["sub-1", "ses-b"]
    assert a["Manufacturer"] == b["Manufacturer"] == "Siemens"
    assert a["ManufacturersModelName"] == "Skyra"
    assert a["SoftwareVersions"] == "syngo MR E11 subject"
    assert b["ManufacturersModelName"] == "Prisma"  # file level over dataset level
    assert b["SoftwareVersions"] == "syngo MR XA30"  # session level over subject level
    assert a["MagneticFieldStrength"] == b["MagneticFieldStrength"] == "3"
    assert a["scanner"] == "Siemens Skyra 3T syngo MR E11 subject"
    assert b["scanner"] == "Siemens Prisma 3T syngo MR XA30"
    assert a["source"] == b["source"] == "sidecar"
    assert "DeviceSerialNumber" not in a


def test_entity_specific_dataset_sidecar_applies_only_to_its_files(tmp_path):
    write(tmp_path, "T1w.json", SKYRA)
    write(tmp_path, "acq-mprage_T1w.json", {"SoftwareVersions": "syngo MR E11 mprage"})
    image(tmp_path, "1", "a", "acq-mprage_")
    image(tmp_path, "1", "b", "acq-space_")
    rows = by_session(session_acquisitions(tmp_path, [("1", "a"), ("1", "b")]))
    assert rows["sub-1", "ses-a"]["SoftwareVersions"] == "syngo MR E11 mprage"  # more specific wins
    assert rows["sub-1", "ses-b"]["SoftwareVersions"] == "syngo MR E11"


def test_equally_specific_sidecars_that_disagree_are_an_error(tmp_path):
    write(tmp_path, "acq-mprage_T1w.json", {"SoftwareVersions": "E11"})
    write(tmp_path, "run-1_T1w.json", {"SoftwareVersions": "XA30"})
    image(tmp_path, "1", "a", "acq-mprage_run-1_")
    with pytest.raises(InputError) as caught:
        session_acquisitions(tmp_path, [("1", "a")])
    assert "acq-mprage_T1w.json and run-1_T1w.json" in caught.value.fault
    assert "SoftwareVersions" in caught.value.fault


def test_extra_keys_are_columns_and_part_of_the_label(tmp_path):
    write(tmp_path, "T1w.json", SKYRA)
    image(tmp_path, "1", "a")
    sidecar(tmp_path, "1", "a", {"DeviceSerialNumber": "45123", "ReceiveCoilName": "HeadNeck_20"})
    image(tmp_path, "1", "b")
    sidecar(tmp_path, "1", "b", {"DeviceSerialNumber": "45999", "ReceiveCoilName": "HeadNeck_20"})
    keys = DEFAULT_KEYS + ("DeviceSerialNumber", "ReceiveCoilName")
    rows = by_session(session_acquisitions(tmp_path, {"1": ["a", "b"]}, keys=keys))
    a, b = rows["sub-1", "ses-a"], rows["sub-1", "ses-b"]
    assert a["DeviceSerialNumber"] == "45123" and a["ReceiveCoilName"] == "HeadNeck_20"
    assert a["scanner"] == "Siemens Skyra 3T syngo MR E11 45123 HeadNeck_20"
    assert b["scanner"] == "Siemens Skyra 3T syngo MR E11 45999 HeadNeck_20"
    # Without the extra keys both sessions are one acquisition.
    plain = session_acquisitions(tmp_path, {"1": ["a", "b"]})
    assert {row["scanner"] for row in plain} == {"Siemens Skyra 3T syngo MR E11"}


def test_scanner_column_overrides_sidecars(tmp_path):
    write(tmp_path, "T1w.json", SKYRA)
    for session in ("a", "b", "c"):
        image(tmp_path, "1", session)
    sidecar(tmp_path, "1", "c", "{ not json")  # never read: the column names this session's scanner
    sessions_tsv(
        tmp_path,
        "1",
        "session_id\tacq_time\tscanner\nses-a\t2020-01-01\tSkyra-E11\nb\t2021-01-01\tn/a\nc\t2022-01-01\tPrisma-XA30\n",
    )
    rows = by_session(session_acquisitions(tmp_path, {"1": ["a", "b", "c"]}))
    assert rows["sub-1", "ses-a"]["scanner"] == "Skyra-E11"
    assert rows["sub-1", "ses-a"]["source"] == "sessions.tsv"
    assert rows["sub-1", "ses-a"]["Manufacturer"] is None
    assert rows["sub-1", "ses-b"]["scanner"] == "Siemens Skyra 3T syngo MR E11"  # n/a: sidecars decide
    assert rows["sub-1", "ses-b"]["source"] == "sidecar"
    assert rows["sub-1", "ses-c"]["scanner"] == "Prisma-XA30"  # prefix-less session id matched too


def test_sessions_table_without_scanner_column_is_fine(tmp_path):
    write(tmp_path, "T1w.json", SKYRA)
    image(tmp_path, "1", "a")
    sessions_tsv(tmp_path, "1", "session_id\tacq_time\nses-a\t2020-01-01\n")
    [row] = session_acquisitions(tmp_path, {"1": ["a"]})
    assert row["source"] == "sidecar"


def test_scanner_column_contradicting_itself_is_an_error(tmp_path):
    sessions_tsv(tmp_path, "1", "session_id\tscanner\nses-a\tSkyra\nses-a\tPrisma\n")
    with pytest.raises(InputError) as caught:
        session_acquisitions(tmp_path, {"1": ["a"]})
    assert caught.value.source.endswith("sub-1_sessions.tsv")
    assert "line 3" in caught.value.fault


def test_sessions_without_metadata_are_one_unknown_acquisition(tmp_path):
    image(tmp_path, "1", "a")  # an image without any sidecar
    image(tmp_path, "1", "b")
    sidecar(tmp_path, "1", "b", {"EchoTime": 0.003})  # a sidecar without the keys
    image(tmp_path, "2", "a")
    sidecar(tmp_path, "2", "a", SKYRA)
    rows = session_acquisitions(tmp_path, {"1": ["a", "b", "c"], "2": ["a"]})  # ses-c: no folder at all
    assert [row["scanner"] for row in rows] == [
        "unknown",
        "unknown",
        "unknown",
        "Siemens Skyra 3T syngo MR E11",
    ]
    assert [row["source"] for row in rows] == ["none", "none", "none", "sidecar"]
    assert unknown_sessions(rows) == [("sub-1", "ses-a"), ("sub-1", "ses-b"), ("sub-1", "ses-c")]
    assert all(rows[0][key] is None for key in DEFAULT_KEYS)


def test_several_runs_that_agree_are_one_acquisition(tmp_path):
    for run in ("1", "2"):
        image(tmp_path, "1", "a", f"run-{run}_")
        sidecar(tmp_path, "1", "a", SKYRA | {"EchoTime": float(run)}, f"run-{run}_")
    [row] = session_acquisitions(tmp_path, {"1": ["a"]})
    assert row["scanner"] == "Siemens Skyra 3T syngo MR E11"


def runs_that_differ(root):
    image(root, "1", "a", "run-1_")
    sidecar(root, "1", "a", SKYRA, "run-1_")
    image(root, "1", "a", "run-2_")
    sidecar(root, "1", "a", SKYRA | {"SoftwareVersions": "syngo MR XA30"}, "run-2_")


def test_several_runs_that_differ_are_an_error_naming_the_folder(tmp_path):
    runs_that_differ(tmp_path)
    with pytest.raises(InputError) as caught:
        session_acquisitions(tmp_path, {"1": ["a"]})
    assert caught.value.source == str(tmp_path / "sub-1" / "ses-a" / "anat")
    fault = caught.value.fault
    assert "several T1w runs" in fault
    assert "sub-1_ses-a_run-1_T1w.nii.gz" in fault and "sub-1_ses-a_run-2_T1w.nii.gz" in fault
    assert "SoftwareVersions" in fault and "scanner" in fault


def test_the_segmentation_source_picks_the_run(tmp_path):
    runs_that_differ(tmp_path)
    by_entities = {("sub-1", "ses-a"): {"sub": "1", "ses": "a", "run": "2", "desc": "aseg", "space": "orig"}}
    [row] = session_acquisitions(tmp_path, {"1": ["a"]}, sources=by_entities)
    assert row["SoftwareVersions"] == "syngo MR XA30"
    by_name = {("1", "a"): "derivatives/sub-1/ses-a/anat/sub-1_ses-a_run-1_desc-aseg_dseg.nii.gz"}
    [row] = session_acquisitions(tmp_path, {"1": ["a"]}, sources=by_name)
    assert row["SoftwareVersions"] == "syngo MR E11"
    # A source naming no run (e.g. a template made from both) decides nothing: still an error.
    with pytest.raises(InputError, match="does not pick one"):
        session_acquisitions(tmp_path, {"1": ["a"]}, sources={("1", "a"): {"desc": "aseg"}})


def test_sidecars_without_images_are_the_files(tmp_path):
    sidecar(tmp_path, "1", "a", SKYRA, "run-1_")
    sidecar(tmp_path, "1", "a", SKYRA | {"MagneticFieldStrength": 1.5}, "run-2_")
    sidecar(tmp_path, "1", "b", SKYRA | {"MagneticFieldStrength": 1.5})
    [b] = session_acquisitions(tmp_path, {"1": ["b"]})
    assert b["scanner"] == "Siemens Skyra 1.5T syngo MR E11"
    with pytest.raises(InputError, match="several T1w runs"):
        session_acquisitions(tmp_path, {"1": ["a"]})
    [a] = session_acquisitions(tmp_path, {"1": ["a"]}, sources={("1", "a"): {"run": "2"}})
    assert a["MagneticFieldStrength"] == "1.5"


def test_malformed_json_is_an_error_naming_the_file_and_line(tmp_path):
    image(tmp_path, "1", "a")
    bad = sidecar(
        tmp_path, "1", "a", '{\n  "Manufacturer": "Siemens",\n  "ManufacturersModelName": Skyra\n}\n'
    )
    with pytest.raises(InputError) as caught:
        session_acquisitions(tmp_path, {"1": ["a"]})
    assert caught.value.source == str(bad)
    assert "line 3" in caught.value.fault
    bad.write_text("[1, 2]")
    with pytest.raises(InputError, match="object"):
        session_acquisitions(tmp_path, {"1": ["a"]})


def test_labels_are_readable_and_distinct(tmp_path):
    assert acquisition_label({"Manufacturer": "GE", "MagneticFieldStrength": "1.5"}) == "GE 1.5T"
    assert acquisition_label({"MagneticFieldStrength": "3T"}) == "3T"
    # Two acquisitions whose values read alike once missing ones are skipped ...
    image(tmp_path, "1", "a")
    sidecar(tmp_path, "1", "a", {"Manufacturer": "Siemens", "ManufacturersModelName": "Skyra 3T"})
    image(tmp_path, "1", "b")
    sidecar(
        tmp_path,
        "1",
        "b",
        {"Manufacturer": "Siemens", "ManufacturersModelName": "Skyra", "MagneticFieldStrength": 3},
    )
    # ... one that is the same as ses-b (3.0 and "3" are 3) ...
    image(tmp_path, "1", "c")
    sidecar(
        tmp_path,
        "1",
        "c",
        {"Manufacturer": "Siemens", "ManufacturersModelName": "Skyra", "MagneticFieldStrength": "3.0"},
    )
    # ... and a sessions.tsv name equal to a built label: the user's name is kept as written.
    image(tmp_path, "2", "a")
    sessions_tsv(tmp_path, "2", "session_id\tscanner\nses-a\tSiemens Skyra 3T\n")
    rows = by_session(session_acquisitions(tmp_path, {"1": ["a", "b", "c"], "2": ["a"]}))
    labels = {key: row["scanner"] for key, row in rows.items()}
    assert labels["sub-2", "ses-a"] == "Siemens Skyra 3T"
    assert labels["sub-1", "ses-b"] == labels["sub-1", "ses-c"]
    assert len({labels["sub-1", "ses-a"], labels["sub-1", "ses-b"], labels["sub-2", "ses-a"]}) == 3
    assert all(label.startswith("Siemens Skyra 3T") for label in labels.values())
    # Labels do not depend on the order of the sessions.
    again = by_session(session_acquisitions(tmp_path, [("2", "a"), ("1", "c"), ("1", "b"), ("1", "a")]))
    assert {key: row["scanner"] for key, row in again.items()} == labels


def test_rows_follow_the_given_sessions(tmp_path):
    rows = session_acquisitions(tmp_path, [("2", "b"), ("sub-1", "ses-a"), ("2", "b")])
    assert [(r["participant_id"], r["session_id"]) for r in rows] == [("sub-2", "ses-b"), ("sub-1", "ses-a")]
    assert list(rows[0]) == ["participant_id", "session_id", "scanner", "source", *DEFAULT_KEYS]
    with pytest.raises(InputError, match="outside"):
        session_acquisitions(tmp_path, [("1", "a_b")])


def test_input_files_lists_exactly_what_matters_without_opening_anything(tmp_path, monkeypatch):
    top = write(tmp_path, "T1w.json", SKYRA)
    write(tmp_path, "acq-fast_T1w.json", SKYRA)  # applies to no file of this subject
    write(tmp_path, "participants.tsv", "participant_id\ngroup\n")
    table = sessions_tsv(tmp_path, "1", "session_id\nses-a\n")
    subject_level = write(tmp_path, "sub-1/sub-1_T1w.json", {})
    write(tmp_path, "sub-1/sub-1_ses-z_T1w.json", {})  # another session's
    write(tmp_path, "sub-1/anat/sub-1_T1w.json", {})  # not a parent of the sessions' anat folders
    session_level = write(tmp_path, "sub-1/ses-a/sub-1_ses-a_T1w.json", {})
    image(tmp_path, "1", "a", "run-1_")
    own = sidecar(tmp_path, "1", "a", "{ malformed, but not opened", "run-1_")
    sidecar(tmp_path, "1", "a", {}, "run-3_")  # no run-3 image: applies to nothing
    write(tmp_path, "sub-1/ses-a/anat/sub-1_ses-a_run-1_dwi.json", {})
    only_sidecar = sidecar(tmp_path, "1", "b", SKYRA)  # a session shipped without images
    sidecar(tmp_path, "1", "c", SKYRA)  # a session not asked for
    sidecar(tmp_path, "2", "a", SKYRA)  # another subject

    def refuse(*args, **kwargs):
        raise AssertionError(f"input_files opened {args[0]}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    listed = top_level_sidecars(tmp_path)
    expected = [top, table, own, session_level, subject_level, only_sidecar]
    assert input_files(tmp_path, "sub-1", ["ses-a", "b"], top_level=listed) == sorted(map(str, expected))
    assert input_files(tmp_path, "1", ["a", "b"]) == sorted(map(str, expected))

    # A new sidecar that applies shows up; so does one that a new image makes applicable.
    monkeypatch.undo()
    new = write(tmp_path, "sub-1/ses-a/anat/sub-1_ses-a_T1w.json", {})
    image(tmp_path, "1", "a", "run-3_")
    third = tmp_path / "sub-1/ses-a/anat/sub-1_ses-a_run-3_T1w.json"
    assert input_files(tmp_path, "1", ["a", "b"]) == sorted(map(str, expected + [new, third]))


def test_input_files_cover_what_session_acquisitions_reads(tmp_path, monkeypatch):
    write(tmp_path, "T1w.json", SKYRA)
    write(tmp_path, "sub-1/ses-a/sub-1_ses-a_T1w.json", {"SoftwareVersions": "XA30"})
    image(tmp_path, "1", "a")
    sidecar(tmp_path, "1", "a", {"ReceiveCoilName": "Head_32"})
    sessions_tsv(tmp_path, "1", "session_id\tscanner\nses-b\tSkyra\n")
    opened = []
    real_open = builtins.open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", spy)
    session_acquisitions(tmp_path, {"1": ["a", "b"]}, keys=DEFAULT_KEYS + ("ReceiveCoilName",))
    monkeypatch.undo()
    listed = input_files(tmp_path, "1", ["a", "b"])
    assert set(opened) == {path for path in listed if path.endswith(".json")}
    assert len(listed) == 4  # three sidecars and the sessions table


def test_a_source_without_run_picks_the_t1w_without_run(tmp_path):
    image(tmp_path, "1", "a")
    sidecar(tmp_path, "1", "a", SKYRA)
    image(tmp_path, "1", "a", "run-2_")
    sidecar(tmp_path, "1", "a", SKYRA | {"SoftwareVersions": "syngo MR XA30"}, "run-2_")
    sources = {("1", "a"): "sub-1_ses-a_desc-aseg_dseg.nii.gz"}
    [row] = session_acquisitions(tmp_path, {"1": ["a"]}, sources=sources)
    assert row["SoftwareVersions"] == "syngo MR E11"


def test_layouts_listed_by_the_workflow_are_used_without_listing_again(tmp_path, monkeypatch):
    """The group job gets each session's layout from the workflow (which listed the dataset at
    DAG-build time): the answer is the same, and no directory is listed again."""
    write(tmp_path, "T1w.json", SKYRA)
    write(tmp_path, "sub-1/sub-1_T1w.json", {"SoftwareVersions": "XA30"})
    image(tmp_path, "1", "a")
    image(tmp_path, "1", "b")
    sidecar(tmp_path, "1", "b", {"ManufacturersModelName": "Prisma"})
    listed_here = session_acquisitions(tmp_path, {"1": ["a", "b"]})
    layouts = {("1", s): layout for s, layout in subject_layouts(tmp_path, "1", ["a", "b"]).items()}
    monkeypatch.setattr(os, "scandir", lambda *a: pytest.fail(f"listed {a} again"))
    assert session_acquisitions(tmp_path, {"1": ["a", "b"]}, layouts=layouts) == listed_here
    assert by_session(listed_here)["sub-1", "ses-b"]["scanner"] == "Siemens Prisma 3T XA30"
