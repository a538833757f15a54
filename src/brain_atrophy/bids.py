"""BIDS inputs: finding label images by walking directories, and reading sessions tables.

Discovery lists directories only (no file is opened), so a dry run over thousands of
sessions stays cheap and works on trees of empty placeholder files.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import re
from datetime import datetime
from pathlib import Path

from .errors import InputError

LABEL = re.compile(r"[a-zA-Z0-9]+")
ENTITY = re.compile(r"([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")
IMAGE_EXTENSIONS = (".nii.gz", ".nii")
DAYS_PER_YEAR = 365.25


def _subdirs(path: str, prefix: str):
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.is_dir():
                    yield entry.name, entry.path
    except FileNotFoundError:
        return


def parse_entities(filename: str, suffix: str) -> dict[str, str] | None:
    """Entities of ``sub-1_ses-2_desc-x_<suffix>.nii[.gz]``; None when the name does not fit."""
    for extension in IMAGE_EXTENSIONS:
        ending = f"_{suffix}{extension}"
        if filename.endswith(ending):
            stem = filename[: -len(ending)]
            break
    else:
        return None
    entities = {}
    for part in stem.split("_"):
        match = ENTITY.fullmatch(part)
        if not match:
            return None
        entities[match.group(1)] = match.group(2)
    return entities


def check_label(kind: str, label: str, where) -> str:
    if not LABEL.fullmatch(label):
        raise InputError(where, f"{kind} label '{label}' has characters outside BIDS' [a-zA-Z0-9]")
    return label


def find_label_images(
    segmentation_dir, filters: dict[str, str] | None = None, suffix: str = "dseg"
) -> dict[str, dict[str, str]]:
    """{subject: {session: path}} for ``sub-*/ses-*/anat/*_<suffix>.nii[.gz]``.

    ``filters`` keeps only files whose entities have the given values (e.g. {"desc": "aseg"});
    more than one match in a session is an error that asks for a filter.
    """
    return find_session_images(segmentation_dir, {suffix: filters or {}})[suffix]


def find_session_images(
    derivatives_dir, wanted: dict[str, dict[str, str]]
) -> dict[str, dict[str, dict[str, str]]]:
    """{suffix: {subject: {session: path}}} for every suffix in ``wanted`` (suffix → entity
    filters), from one walk of ``sub-*/ses-*/anat/`` (e.g. the label image and the T1w it was
    segmented from). More than one match of a suffix in a session is an error."""
    found: dict[str, dict[str, dict[str, str]]] = {suffix: {} for suffix in wanted}
    for subject, session, anat, names in anat_folders(derivatives_dir):
        for suffix, filters in wanted.items():
            matches = [name for name in names if _matches(name, suffix, subject, session, filters)]
            if len(matches) > 1:
                option = "segmentation_filters" if suffix == "dseg" else f"{suffix.lower()}_filters"
                raise InputError(
                    anat,
                    f"{len(matches)} {suffix} images match ({', '.join(matches)}); "
                    f"choose one with '{option}' in the config",
                )
            if matches:
                found[suffix].setdefault(subject, {})[session] = os.path.join(anat, matches[0])
    return found


def anat_folders(derivatives_dir):
    """(subject, session, anat folder, sorted file names) of every ``sub-*/ses-*/anat/``;
    labels outside BIDS' [a-zA-Z0-9] are an InputError before any path is used."""
    for sub_dir, sub_path in sorted(_subdirs(str(derivatives_dir), "sub-")):
        subject = check_label("participant", sub_dir[4:], sub_path)
        for ses_dir, ses_path in sorted(_subdirs(sub_path, "ses-")):
            session = check_label("session", ses_dir[4:], ses_path)
            anat = os.path.join(ses_path, "anat")
            try:
                names = sorted(os.listdir(anat))
            except FileNotFoundError:
                continue
            yield subject, session, anat, names


def find_tissue_maps(derivatives_dir, patterns: dict[str, str]) -> dict[str, dict[str, dict[str, str]]]:
    """{subject: {session: {tissue: path}}}: in each ``sub-*/ses-*/anat/`` folder, the file
    matching each tissue's glob pattern (e.g. GM: '*_label-GM_probseg.nii.gz', '*_pve_1.nii.gz'
    for FSL FAST, 'mwp1*.nii' for CAT12). A session with only some of the maps is kept: its
    subject's job reports the missing one (so --keep-going still finishes the others). Two
    matches of one pattern are an error."""
    found: dict[str, dict[str, dict[str, str]]] = {}
    for subject, session, anat, names in anat_folders(derivatives_dir):
        maps = {}
        for tissue, pattern in patterns.items():
            matches = fnmatch.filter(names, pattern)
            if len(matches) > 1:
                raise InputError(
                    anat,
                    f"{len(matches)} files match the {tissue} pattern '{pattern}' ({', '.join(matches)})",
                )
            if matches:
                maps[tissue] = os.path.join(anat, matches[0])
        if maps:
            found.setdefault(subject, {})[session] = maps
    return found


def _matches(name: str, suffix: str, subject: str, session: str, filters: dict[str, str]) -> bool:
    entities = parse_entities(name, suffix)
    if entities is None or entities.get("sub") != subject or entities.get("ses") != session:
        return False
    return all(entities.get(key) == value for key, value in filters.items())


FREESURFER_LONG = re.compile(r"(?:sub-)?([a-zA-Z0-9]+)_(?:ses-)?([a-zA-Z0-9]+)\.long\.(.+)")


def find_freesurfer_long(subjects_dir, volume: str = "aseg.mgz") -> dict[str, dict[str, str]]:
    """{subject: {session: path}} from FreeSurfer's longitudinal stream:
    ``SUBJECTS_DIR/<subject>_<session>.long.<base>/mri/<volume>`` (the ``sub-``/``ses-``
    prefixes are optional). Two longitudinal runs of one session are an error."""
    found: dict[str, dict[str, str]] = {}
    try:
        entries = sorted(os.scandir(subjects_dir), key=lambda e: e.name)
    except FileNotFoundError:
        return found
    for entry in entries:
        match = FREESURFER_LONG.fullmatch(entry.name)
        if not match or not entry.is_dir():
            continue
        subject, session = match.group(1), match.group(2)
        path = os.path.join(entry.path, "mri", volume)
        if not os.path.exists(path):
            continue
        if session in found.get(subject, {}):
            raise InputError(
                subjects_dir,
                f"two longitudinal runs for sub-{subject} ses-{session} ({entry.name} and another)",
            )
        found.setdefault(subject, {})[session] = path
    return found


def parse_acq_time(text: str) -> datetime:
    """ISO 8601 date or date-time (BIDS ``acq_time``); a trailing Z is UTC."""
    value = text.strip()
    if value.endswith("Z"):
        value = value[:-1]
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=None)


def read_sessions_table(path) -> dict[str, datetime]:
    """{session label: acq_time} from ``sub-<label>_sessions.tsv``; labels lose their 'ses-'."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise InputError(path, f"cannot read sessions table ({err.strerror})") from None
    reader = csv.DictReader(text.splitlines(), delimiter="\t")
    missing = {"session_id", "acq_time"} - set(reader.fieldnames or [])
    if missing:
        raise InputError(path, f"sessions table lacks the column(s) {sorted(missing)}")
    dates: dict[str, datetime] = {}
    for line_number, row in enumerate(reader, start=2):
        raw_id = (row["session_id"] or "").strip()
        session = raw_id[4:] if raw_id.startswith("ses-") else raw_id
        check_label("session", session, f"{path}, line {line_number}")
        if session in dates:
            raise InputError(path, f"line {line_number}: session '{raw_id}' is listed twice")
        raw_time = (row["acq_time"] or "").strip()
        if raw_time in ("", "n/a"):
            dates[session] = None
            continue
        try:
            dates[session] = parse_acq_time(raw_time)
        except ValueError:
            raise InputError(
                path,
                f"line {line_number}: acq_time '{raw_time}' of session '{raw_id}' is not an ISO 8601 date",
            ) from None
    return dates


def read_session_numbers(path, column: str) -> dict[str, float | None]:
    """{session label: value} of an optional numeric column of ``sub-<label>_sessions.tsv``
    (e.g. ``icv``); empty when the table lacks the column, None for 'n/a'."""
    path = Path(path)
    reader = csv.DictReader(path.read_text().splitlines(), delimiter="\t")
    if column not in (reader.fieldnames or []):
        return {}
    values: dict[str, float | None] = {}
    for line_number, row in enumerate(reader, start=2):
        raw_id = (row["session_id"] or "").strip()
        raw = (row[column] or "").strip()
        try:
            value = None if raw in ("", "n/a") else float(raw)
        except ValueError:
            raise InputError(path, f"line {line_number}: {column} '{raw}' is not a number") from None
        if value is not None and not value > 0:
            raise InputError(path, f"line {line_number}: {column} must be positive, not {raw}")
        values[raw_id[4:] if raw_id.startswith("ses-") else raw_id] = value
    return values


def session_dates(sessions: list[str], table: dict[str, datetime], table_path) -> dict[str, datetime]:
    """The acq_time of each session with an image; a missing row or date is an InputError."""
    dates = {}
    for session in sessions:
        if session not in table:
            raise InputError(table_path, f"no row for session 'ses-{session}', which has a label image")
        if table[session] is None:
            raise InputError(table_path, f"session 'ses-{session}' has no acq_time")
        dates[session] = table[session]
    seen: dict[datetime, str] = {}
    for session, when in sorted(dates.items()):
        if when in seen:
            raise InputError(
                table_path,
                f"sessions 'ses-{seen[when]}' and 'ses-{session}' have the same acq_time {when.isoformat()}",
            )
        seen[when] = session
    return dates


def years_since_first(dates: dict[str, datetime]) -> dict[str, float]:
    """Years (of 365.25 days) from the earliest date; only intervals matter (dates may be shifted)."""
    first = min(dates.values())
    return {
        session: (when - first).total_seconds() / (DAYS_PER_YEAR * 86400.0) for session, when in dates.items()
    }
