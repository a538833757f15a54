"""Reading users' TSVs as spreadsheets and old tools save them, and writing ours."""

import math

import pandas as pd
import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.tables import is_missing, read_frame, read_table, write_frame, write_rows


def test_bom_crlf_trailing_blank_lines_and_na(tmp_path):
    path = tmp_path / "participants.tsv"
    path.write_bytes(
        b"\xef\xbb\xbfparticipant_id\tgroup\tage\r\nsub-01\tHC\tn/a\r\nsub-02\tOCR\t41\r\n\r\n\t\r\n"
    )
    table = read_table(path)
    assert table.columns == ["participant_id", "group", "age"]
    assert [r["participant_id"] for r in table.rows] == ["sub-01", "sub-02"]
    assert is_missing(table.rows[0]["age"]) and not is_missing(table.rows[1]["age"])
    assert table.lines == [2, 3]
    frame = read_frame(path)
    assert list(frame.columns) == ["participant_id", "group", "age"]
    assert frame["participant_id"].tolist()[:2] == ["sub-01", "sub-02"]
    assert math.isnan(frame["age"][0]) and frame["age"][1] == 41


def test_comments_are_skipped_only_when_asked(tmp_path):
    path = tmp_path / "regions.tsv"
    path.write_text("# my atlas\nregion\tlabels\nx\t1\n")
    assert read_table(path, comments=True).columns == ["region", "labels"]
    with pytest.raises(InputError, match="line 2: 2 fields, but the header has 1"):
        read_table(path)


def test_cp1252_is_the_logged_fallback(tmp_path, caplog):
    path = tmp_path / "sessions.tsv"
    path.write_bytes("session_id\tsite\nses-1\tZürich\nses-2\t€\n".encode("cp1252"))
    assert [r["site"] for r in read_table(path).rows] == ["Zürich", "€"]
    assert f"{path}: not UTF-8 (line 2, byte 0xfc); read as cp1252" in caplog.text


def test_neither_utf8_nor_cp1252_is_refused_naming_file_and_line(tmp_path):
    path = tmp_path / "sessions.tsv"
    path.write_bytes(b"session_id\tsite\nses-1\tA\nses-2\t\x81\x8d\n")
    with pytest.raises(InputError, match="line 3: not UTF-8") as err:
        read_table(path)
    assert str(path) in str(err.value)


def test_a_row_longer_than_the_header_names_the_line(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n1\t2\t3\n")
    with pytest.raises(InputError, match="line 3: 3 fields, but the header has 2"):
        read_table(path)


def test_missing_columns_are_named_with_the_ones_present(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("\ufeffsession_id\tdate\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"lacks the column\(s\) \['acq_time'\].*session_id, date"):
        read_table(path).require(["session_id", "acq_time"], "sessions table")


def test_a_missing_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="cannot read"):
        read_table(tmp_path / "absent.tsv")


def test_floats_round_trip_exactly_through_both_writers(tmp_path):
    values = [0.1 + 0.2, 1234567.891011, 1e-12, float("nan")]
    write_rows(tmp_path / "rows.tsv", ["v"], [{"v": v} for v in values])
    write_frame(pd.DataFrame({"v": values}), tmp_path / "frame.tsv")
    assert (tmp_path / "rows.tsv").read_text() == (tmp_path / "frame.tsv").read_text()
    back = read_frame(tmp_path / "rows.tsv")["v"].tolist()
    assert back[:3] == values[:3] and math.isnan(back[3])
    assert (tmp_path / "rows.tsv").read_text().splitlines()[-1] == "n/a"


def test_numpy_floats_written_as_plain_numbers(tmp_path):
    """numpy 2's repr() of a float64 names its type; the table must read back as the number."""
    import numpy as np

    path = tmp_path / "t.tsv"
    write_rows(path, ["x", "y"], [{"x": np.float64(1.04811736785128), "y": np.float32(0.5)}])
    assert path.read_text() == "x\ty\n1.04811736785128\t0.5\n"


def test_many_tables_read_at_once_equal_each_read_alone(tmp_path):
    from brain_atrophy.tables import read_frames

    contents = [
        "participant_id\tsession_id\tvolume_mm3\tn_voxels\nsub-01\tses-1\t0.30000000000000004\t3\n",
        "\ufeffparticipant_id\tsession_id\tvolume_mm3\tn_voxels\r\nsub-02\tses-1\tn/a\t4\r\n\r\n",
        "participant_id\tsession_id\tvolume_mm3\tn_voxels\nsub-04\t001\t1e-3\t5\nsub-04\t002\t2.5\t6\n",
    ]
    paths = []
    for k, text in enumerate(contents):
        paths.append(tmp_path / f"{k}.tsv")
        paths[-1].write_bytes(text.encode("utf-8"))
    alone = pd.concat([read_frame(p) for p in paths], ignore_index=True)
    pd.testing.assert_frame_equal(read_frames(paths), alone)
    assert read_frames(paths)["session_id"].tolist() == ["ses-1", "ses-1", "001", "002"]
    assert read_frames(paths)["volume_mm3"].iloc[0] == 0.30000000000000004
    other = tmp_path / "other.tsv"  # another header: each table is read on its own
    other.write_text("participant_id\tsession_id\tvolume_mm3\nsub-05\tses-1\t7\n")
    mixed = read_frames([*paths, other])
    assert len(mixed) == 5 and mixed["n_voxels"].isna().tolist() == [False] * 4 + [True]
    header_only = tmp_path / "header.tsv"
    header_only.write_text("participant_id\tsession_id\tvolume_mm3\tn_voxels\n")
    assert read_frames([*paths, header_only]).equals(read_frames(paths))
    assert read_frames([]).empty


def test_a_bad_table_among_many_is_named(tmp_path):
    from brain_atrophy.tables import read_frames

    good, bad = tmp_path / "good.tsv", tmp_path / "bad.tsv"
    good.write_text("a\tb\n1\t2\n")
    bad.write_bytes(b"a\tb\n1\t\x81\n")  # 0x81: neither UTF-8 nor cp1252
    with pytest.raises(InputError) as raised:
        read_frames([good, bad])
    assert raised.value.source == str(bad)
