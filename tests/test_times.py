"""Each session's time from sessions.tsv acq_time, scans.tsv acq_time, an age, or a named column."""

from datetime import datetime

import pytest

from brain_atrophy.errors import InputError
from brain_atrophy.inputs.times import (
    DAYS_PER_YEAR,
    parse_acq_time,
    session_numbers,
    session_times,
    years_since_first,
)


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.fixture
def sessions_tsv(tmp_path):
    return tmp_path / "sub-01" / "sub-01_sessions.tsv"


def scans(tmp_path, session, text):
    return write(tmp_path / "sub-01" / f"ses-{session}" / f"sub-01_ses-{session}_scans.tsv", text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("2020-01-02T03:04:05", datetime(2020, 1, 2, 3, 4, 5)),
        ("2020-01-02", datetime(2020, 1, 2)),
        ("1925-05-06T10:00:00.000000Z", datetime(1925, 5, 6, 10)),
    ],
)
def test_acq_time_formats(text, expected):
    assert parse_acq_time(text) == expected


def test_sessions_acq_time_gives_years(sessions_tsv):
    write(sessions_tsv, "session_id\tacq_time\tnote\nses-1\t2020-01-01T00:00:00\tx\n2\t2021-01-01\ty\n")
    times = session_times(["1", "2"], sessions_tsv)
    assert years_since_first(times) == {"1": 0.0, "2": pytest.approx(366 / 365.25)}
    assert {t.source for t in times.values()} == {"sessions.tsv acq_time"}
    assert times["2"].acq_time == datetime(2021, 1, 1)


def test_scans_tsv_acq_time_of_the_source_t1w_else_the_earliest_anatomical_scan(tmp_path):
    one = scans(
        tmp_path,
        "1",
        "filename\tacq_time\nfunc/sub-01_ses-1_task-x_bold.nii.gz\t2019-01-01T00:00:00\n"
        "anat/sub-01_ses-1_run-2_T1w.nii.gz\t2020-01-01T12:00:00\n"
        "anat/sub-01_ses-1_run-1_T1w.nii.gz\t2020-01-01T09:00:00\n",
    )
    two = scans(tmp_path, "2", "filename\tacq_time\nanat/sub-01_ses-2_T1w.nii.gz\t2020-07-02T09:00:00\n")
    scans_tsvs = {"1": str(one), "2": str(two)}
    earliest = session_times(["1", "2"], None, scans_tsvs)
    assert earliest["1"].acq_time == datetime(2020, 1, 1, 9)
    chosen = session_times(["1", "2"], None, scans_tsvs, {"1": "sub-01_ses-1_run-2_T1w"})
    assert chosen["1"].acq_time == datetime(2020, 1, 1, 12)
    assert {t.source for t in chosen.values()} == {"scans.tsv acq_time"}
    assert years_since_first(earliest)["2"] == pytest.approx(183 / DAYS_PER_YEAR)


def test_age_in_years_when_there_is_no_date(sessions_tsv):
    write(sessions_tsv, "session_id\tage\nses-1\t61.5\nses-2\t62.25\n")
    times = session_times(["1", "2"], sessions_tsv)
    assert years_since_first(times) == {"1": 0.0, "2": 0.75}
    assert times["1"].acq_time is None and times["1"].source == "sessions.tsv age (years)"


@pytest.mark.parametrize("unit, per_year", [("weeks", 365.25 / 7), ("days", 365.25), ("months", 12.0)])
def test_a_configured_column_and_unit(sessions_tsv, unit, per_year):
    write(sessions_tsv, "session_id\tacq_time\tscan_age\nses-1\t2000-01-01\t40\nses-2\t2000-02-01\t92\n")
    times = session_times(["1", "2"], sessions_tsv, time_setting={"column": "scan_age", "unit": unit})
    assert years_since_first(times)["2"] == pytest.approx(52 / per_year)
    assert times["2"].source == f"sessions.tsv scan_age ({unit})"


def test_the_first_source_wins_and_the_table_as_a_spreadsheet_saves_it(tmp_path, sessions_tsv):
    # BOM, CRLF, trailing blank lines: acq_time wins over scans.tsv and age
    sessions_tsv.parent.mkdir(parents=True)
    sessions_tsv.write_bytes(
        b"\xef\xbb\xbfsession_id\tacq_time\tage\r\nses-1\t2020-01-01\t60\r\nses-2\t2022-01-01\t61\r\n\r\n\r\n"
    )
    other = scans(tmp_path, "1", "filename\tacq_time\nanat/sub-01_ses-1_T1w.nii.gz\t2010-01-01\n")
    times = session_times(["1", "2"], sessions_tsv, {"1": str(other)})
    assert years_since_first(times)["2"] == pytest.approx(731 / 365.25)


def test_latin1_sessions_table_is_read_with_the_fallback(sessions_tsv, caplog):
    sessions_tsv.parent.mkdir(parents=True)
    sessions_tsv.write_bytes("session_id\tacq_time\tsite\nses-1\t2020-01-01\tZürich\n".encode("latin-1"))
    assert session_times(["1"], sessions_tsv)["1"].acq_time == datetime(2020, 1, 1)
    assert "not UTF-8 (line 2" in caplog.text and "cp1252" in caplog.text


@pytest.mark.parametrize(
    "text, sessions, fault",
    [
        ("session_id\tacq_time\nses-1\tn/a\n", ["1"], "has no acq_time"),
        ("session_id\tacq_time\nses-1\tyesterday\n", ["1"], "not an ISO 8601 date"),
        ("session_id\tacq_time\nses-1\t2020-01-01\n", ["1", "2"], "no row for session 'ses-2'"),
        ("session_id\tacq_time\nses-1\t2020-01-01\nses-1\t2020-01-02\n", ["1"], "listed twice"),
        ("session_id\tdate\nses-1\t2020-01-01\n", ["1"], "lacks the column"),
        ("session_id\tacq_time\nses-1\t2020-01-01\nses-2\t2020-01-01\n", ["1", "2"], "the same acq_time"),
        ("session_id\tage\nses-1\t60\nses-2\t60\n", ["1", "2"], "the same time 60 years"),
        (
            "session_id\tacq_time\tage\nses-1\t2020-01-01\tn/a\nses-2\tn/a\t61\n",
            ["1", "2"],
            "different sources",
        ),
        ("session_id\tage\nses-1\tsixty\n", ["1"], "'sixty' is not a number"),
        ("id\tacq_time\nses-1\t2020-01-01\n", ["1"], r"\['session_id'\].*: id, acq_time"),
    ],
)
def test_sessions_table_faults_name_the_file(sessions_tsv, text, sessions, fault):
    write(sessions_tsv, text)
    with pytest.raises(InputError, match=fault) as err:
        session_times(sessions, sessions_tsv)
    assert str(sessions_tsv) in str(err.value)


def test_no_time_anywhere_names_every_file_looked_in(tmp_path, sessions_tsv):
    write(sessions_tsv, "session_id\tsite\nses-1\tA\n")
    other = scans(tmp_path, "1", "filename\tacq_time\nfunc/sub-01_ses-1_bold.nii.gz\t2020-01-01\n")
    with pytest.raises(InputError, match="the session has no time") as err:
        session_times(["1"], sessions_tsv, {"1": str(other)})
    assert str(sessions_tsv) in str(err.value) and str(other) in str(err.value)


def test_mixed_sources_within_a_subject_is_an_error(tmp_path, sessions_tsv):
    write(sessions_tsv, "session_id\tacq_time\nses-1\t2020-01-01\nses-2\tn/a\n")
    other = scans(tmp_path, "2", "filename\tacq_time\nanat/sub-01_ses-2_T1w.nii.gz\t2021-01-01\n")
    with pytest.raises(InputError, match="scans.tsv acq_time: ses-2; sessions.tsv acq_time: ses-1"):
        session_times(["1", "2"], sessions_tsv, {"2": str(other)})


def test_sessions_out_of_label_order_are_timed_by_date(sessions_tsv):
    write(sessions_tsv, "session_id\tacq_time\nses-2\t2021-01-01\nses-1\t2020-01-01\nses-3\t2020-07-02\n")
    years = years_since_first(session_times(["1", "2", "3"], sessions_tsv))
    assert years["1"] == 0 and 0 < years["3"] < years["2"]


def test_sessions_table_icv_column(sessions_tsv):
    write(sessions_tsv, "session_id\tacq_time\ticv\nses-1\t2020-01-01\t1.5e6\nses-2\t2021-01-01\tn/a\n")
    assert session_numbers(sessions_tsv, "icv") == {"1": 1.5e6, "2": None}
    assert session_numbers(sessions_tsv, "etiv") == {}
    assert session_numbers(None, "icv") == {}
    write(sessions_tsv, "session_id\tacq_time\ticv\nses-1\t2020-01-01\tlarge\n")
    with pytest.raises(InputError, match="line 2: icv 'large' is not a number"):
        session_numbers(sessions_tsv, "icv")
