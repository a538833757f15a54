"""Each session's time, from wherever the dataset keeps it, as years since the subject's first.

Real datasets keep a session's time in one of three places (BIDS allows all three):
``sessions.tsv`` ``acq_time``, the ``acq_time`` of the session's anatomical scan in
``scans.tsv``, or an age at the session in ``sessions.tsv``. Without a ``time`` setting each
session takes the first of these that it has; a setting names one column and its unit instead.
Only intervals are used, so dates shifted for de-identification and ages give the same years.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..errors import InputError
from ..paths import session_id, session_label
from ..tables import Table, is_missing, read_table
from .names import check_label

DAYS_PER_YEAR = 365.25
SECONDS_PER_YEAR = DAYS_PER_YEAR * 86400.0
WEEKS_PER_YEAR = DAYS_PER_YEAR / 7
# years per unit of an age-like column
UNIT_YEARS = {"years": 1.0, "months": 1 / 12, "weeks": 1 / WEEKS_PER_YEAR, "days": 1 / DAYS_PER_YEAR}
DEFAULT_AGE_COLUMN = "age"


@dataclass(frozen=True)
class SessionTime:
    """A session's time: ``years`` on the source's own scale (ages, or years since 1970 for
    dates; only differences are used), the date when the source is a date, and the source."""

    years: float
    acq_time: datetime | None
    source: str


def parse_acq_time(text: str) -> datetime:
    """ISO 8601 date or date-time (BIDS ``acq_time``); a trailing Z is UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    return datetime.fromisoformat(value).replace(tzinfo=None)


def _date_time(text: str, source: str, where: str) -> SessionTime:
    try:
        when = parse_acq_time(text)
    except ValueError:
        raise InputError(where, f"acq_time '{text}' is not an ISO 8601 date") from None
    return SessionTime((when - datetime(1970, 1, 1)).total_seconds() / SECONDS_PER_YEAR, when, source)


def _age(text: str, column: str, unit: str, where: str) -> SessionTime:
    try:
        value = float(text)
    except ValueError:
        raise InputError(where, f"{column} '{text}' is not a number (of {unit})") from None
    return SessionTime(value * UNIT_YEARS[unit], None, f"sessions.tsv {column} ({unit})")


def sessions_rows(table: Table | None) -> dict[str, tuple[int, dict]]:
    """{session label: (line number, row)} of a sessions table; a session twice is an error."""
    if table is None:
        return {}
    table.require(["session_id"], "sessions table")
    rows: dict[str, tuple[int, dict]] = {}
    for line, row in table.numbered():
        session = session_label(row["session_id"])
        check_label("session", session, f"{table.path}, line {line}")
        if session in rows:
            raise InputError(table.path, f"line {line}: session '{row['session_id']}' is listed twice")
        rows[session] = (line, row)
    return rows


def scans_time(scans_tsv, source_t1w: str | None) -> SessionTime | None:
    """The acq_time of the session's anatomical scan in ``scans.tsv``: the row whose filename is
    ``source_t1w`` (the T1w the segmentation came from), else the earliest ``anat/`` row."""
    table = read_table(scans_tsv)
    if "filename" not in table.columns or "acq_time" not in table.columns:
        return None
    anatomical = [
        (line, row)
        for line, row in table.numbered()
        if row["filename"].startswith("anat/") and not is_missing(row["acq_time"])
    ]
    chosen = [(line, row) for line, row in anatomical if image_stem(row["filename"]) == source_t1w]
    times = [
        _date_time(row["acq_time"], "scans.tsv acq_time", f"{scans_tsv}, line {line}")
        for line, row in (chosen or anatomical)
    ]
    return min(times, key=lambda t: t.years) if times else None


def image_stem(filename: str) -> str:
    """'anat/sub-1_ses-2_T1w.nii.gz' → 'sub-1_ses-2_T1w'."""
    name = Path(filename).name
    for extension in (".nii.gz", ".nii", ".mgz"):
        if name.endswith(extension):
            return name[: -len(extension)]
    return name


def resolve_session_time(
    session: str,
    sessions_table: Table | None,
    sessions: dict[str, tuple[int, dict]],
    scans_tsv=None,
    source_t1w: str | None = None,
    time_setting: dict | None = None,
) -> SessionTime:
    """One session's time: the configured column, else the first source it has."""
    line, row = sessions.get(session, (None, {}))
    where = f"{sessions_table.path if sessions_table else 'sessions.tsv'}, line {line}"
    if time_setting:
        column, unit = time_setting["column"], time_setting.get("unit", "years")
        if sessions_table is not None:
            sessions_table.require(["session_id", column], "sessions table (config 'time')")
        if is_missing(row.get(column)):
            raise InputError(
                sessions_table.path if sessions_table else "sessions.tsv",
                f"session '{session_id(session)}' has no {column} (config 'time')",
            )
        if unit == "date":
            return _date_time(row[column], f"sessions.tsv {column}", where)
        return _age(row[column], column, unit, where)
    if not is_missing(row.get("acq_time")):
        return _date_time(row["acq_time"], "sessions.tsv acq_time", where)
    if scans_tsv is not None:
        found = scans_time(scans_tsv, source_t1w)
        if found is not None:
            return found
    if not is_missing(row.get(DEFAULT_AGE_COLUMN)):
        return _age(row[DEFAULT_AGE_COLUMN], DEFAULT_AGE_COLUMN, "years", where)
    raise InputError(
        sessions_table.path if sessions_table else session_id(session),
        _no_time(session, sessions_table, sessions, scans_tsv),
    )


def _no_time(session: str, sessions_table: Table | None, sessions: dict, scans_tsv) -> str:
    """Why a session has no time, naming every file that was looked in."""
    if sessions_table is None:
        looked = "no sessions.tsv"
    elif session not in sessions:
        looked = (
            f"no row for session '{session_id(session)}', which has a label image, in {sessions_table.path}"
        )
    else:
        columns = [c for c in ("acq_time", DEFAULT_AGE_COLUMN) if c not in sessions_table.columns]
        lacking = f" (the table lacks the column(s) {columns})" if columns else ""
        looked = f"session '{session_id(session)}' has no acq_time or age in {sessions_table.path}{lacking}"
    scans = f"no anat/ acq_time in {scans_tsv}" if scans_tsv else "no scans.tsv"
    return f"{looked}; {scans}: the session has no time (or set 'time' in the config)"


def session_times(
    sessions: list[str],
    sessions_tsv=None,
    scans_tsvs: dict[str, str] | None = None,
    source_t1w: dict[str, str] | None = None,
    time_setting: dict | None = None,
) -> dict[str, SessionTime]:
    """Every session's time; mixed sources within the subject, or two sessions at one time,
    are InputErrors naming the tables."""
    table = read_table(sessions_tsv) if sessions_tsv else None
    rows = sessions_rows(table)
    scans_tsvs, source_t1w = scans_tsvs or {}, source_t1w or {}
    times = {
        s: resolve_session_time(s, table, rows, scans_tsvs.get(s), source_t1w.get(s), time_setting)
        for s in sessions
    }
    where = sessions_tsv or next(iter(scans_tsvs.values()), "sessions")
    sources = sorted({t.source for t in times.values()})
    if len(sources) > 1:
        by_source = {src: [session_id(s) for s, t in times.items() if t.source == src] for src in sources}
        described = "; ".join(f"{src}: {', '.join(names)}" for src, names in by_source.items())
        raise InputError(where, f"sessions take their time from different sources ({described}); use one")
    seen: dict[float, str] = {}
    for session, time in sorted(times.items()):
        if time.years in seen:
            shown = time.acq_time.isoformat() if time.acq_time else f"{time.years:g} years"
            what = "acq_time" if time.acq_time else "time"
            raise InputError(
                where,
                f"sessions '{session_id(seen[time.years])}' and '{session_id(session)}' have the same "
                f"{what} {shown}",
            )
        seen[time.years] = session
    return times


def years_since_first(times: dict[str, SessionTime]) -> dict[str, float]:
    """Years from the subject's earliest session."""
    first = min(t.years for t in times.values())
    return {session: t.years - first for session, t in times.items()}


def session_numbers(sessions_tsv, column: str) -> dict[str, float | None]:
    """{session label: value} of an optional positive numeric column of ``sessions.tsv`` (e.g.
    ``icv``); empty without the table or the column, None for 'n/a'."""
    if not sessions_tsv:
        return {}
    table = read_table(sessions_tsv)
    if column not in table.columns or "session_id" not in table.columns:
        return {}
    values: dict[str, float | None] = {}
    for line, row in table.numbered():
        raw = row[column]
        try:
            value = None if is_missing(raw) else float(raw)
        except ValueError:
            raise InputError(sessions_tsv, f"line {line}: {column} '{raw}' is not a number") from None
        if value is not None and not value > 0:
            raise InputError(sessions_tsv, f"line {line}: {column} must be positive, not {raw}")
        values[session_label(row["session_id"])] = value
    return values
