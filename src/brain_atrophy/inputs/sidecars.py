"""BIDS JSON sidecars of the T1w images: which apply to a session's scan, and what they say.

BIDS spreads a scan's metadata over dataset, subject, session and file level (the inheritance
principle). Deciding which files matter takes directory listings only (:func:`input_files`), so
the workflow can declare them as inputs of the group job at DAG-build time over thousands of
sessions; the sidecars are opened only by :func:`sidecar_metadata`, inside the group job.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from typing import NamedTuple

from .. import paths
from ..errors import InputError
from ..tables import is_missing
from .names import parse_name, session_label, source_entities, subject_label

FIELD_STRENGTH = "MagneticFieldStrength"
SUFFIX = "T1w"
IMAGE_EXTENSIONS = (".nii", ".nii.gz")
SIDECAR_EXTENSIONS = (".json",)
# the sessions.tsv column that names a session's scanner instead of the sidecars
SCANNER_COLUMN = "scanner"
NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")

Named = tuple[str, dict[str, str]]  # (path, entities)
Reader = Callable[[str], dict]


class SessionLayout(NamedTuple):
    """What the directory listings say about one session: its T1w "data files" and the T1w
    sidecars at each level (dataset, subject, session, anat), top first."""

    anat_dir: str
    files: list[Named]
    levels: list[list[Named]]


def file_names(directory: str) -> list[str]:
    """Sorted names of the non-folder entries of ``directory`` (none when it does not exist);
    broken symlinks count, as DataLad leaves not-yet-fetched files as such."""
    try:
        with os.scandir(directory) as entries:
            return sorted(entry.name for entry in entries if not entry.is_dir())
    except (FileNotFoundError, NotADirectoryError):
        return []


def _t1w(directory: str, names: Iterable[str], extensions: tuple[str, ...]) -> list[Named]:
    found = []
    for name in names:
        parsed = parse_name(name)
        if parsed and parsed.suffix == SUFFIX and parsed.extension in extensions:
            found.append((os.path.join(directory, name), parsed.entities))
    return found


def top_level_sidecars(bids_dir) -> list[Named]:
    """The dataset-level T1w sidecars (``T1w.json``, ``acq-mprage_T1w.json``…): listed once and
    passed to :func:`input_files` for every subject, not relisted thousands of times."""
    bids_dir = str(bids_dir)
    return _t1w(bids_dir, file_names(bids_dir), SIDECAR_EXTENSIONS)


def _applies(sidecar: dict[str, str], data: dict[str, str]) -> bool:
    """BIDS inheritance: a sidecar applies when its entities are a subset of the data file's."""
    return all(data.get(key) == value for key, value in sidecar.items())


def _data_files(anat_dir: str, names: list[str], subject: str, session: str) -> list[Named]:
    """The session's T1w data files: its images (one per entity set, ``.nii`` or ``.nii.gz``),
    or, when the raw images are not shipped, its ``anat/*_T1w.json`` sidecars themselves."""

    def own(entities: dict[str, str]) -> bool:
        return entities.get("sub") == subject and entities.get("ses") == session

    files = [f for f in _t1w(anat_dir, names, IMAGE_EXTENSIONS) if own(f[1])]
    if not files:
        files = [f for f in _t1w(anat_dir, names, SIDECAR_EXTENSIONS) if own(f[1])]
    unique: dict[tuple, Named] = {}
    for path, entities in files:
        unique.setdefault(tuple(sorted(entities.items())), (path, entities))
    return list(unique.values())


def session_layout(
    bids_dir, subject: str, session: str, top_level: list[Named], subject_names: list[str] | None = None
) -> SessionLayout:
    """One session's data files and candidate sidecars, from three directory listings (the
    subject folder's listing can be passed in, as every session of a subject shares it)."""
    bids_dir = str(bids_dir)
    subject_dir = paths.subject_dir(bids_dir, subject)
    session_dir = paths.session_dir(bids_dir, subject, session)
    anat_dir = os.path.join(session_dir, "anat")
    if subject_names is None:
        subject_names = file_names(subject_dir)
    anat_names = file_names(anat_dir)
    levels = [
        list(top_level),
        _t1w(subject_dir, subject_names, SIDECAR_EXTENSIONS),
        _t1w(session_dir, file_names(session_dir), SIDECAR_EXTENSIONS),
        _t1w(anat_dir, anat_names, SIDECAR_EXTENSIONS),
    ]
    return SessionLayout(anat_dir, _data_files(anat_dir, anat_names, subject, session), levels)


def applicable(levels: list[list[Named]], entities: dict[str, str]) -> list[list[Named]]:
    """Per level (top first), the sidecars that apply to a data file with ``entities``, the less
    specific first so that within a level the more specific one wins."""
    return [
        sorted((s for s in level if _applies(s[1], entities)), key=lambda s: len(s[1])) for level in levels
    ]


# ---------------------------------------------------------------- reading


def read_sidecar(path) -> dict:
    """A JSON sidecar's object; a file that is unreadable, not UTF-8, not JSON or not an object
    is an InputError naming the file (and the line), as the user has to fix the file."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as err:
        raise InputError(path, f"cannot read ({err.strerror})") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise InputError(path, f"line {line}: not UTF-8 (byte 0x{data[err.start]:02x})") from None
    if not text.strip():
        raise InputError(path, "empty file, expected a JSON object")
    try:
        content = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(path, f"line {err.lineno}, column {err.colno}: not valid JSON ({err.msg})") from None
    if not isinstance(content, dict):
        raise InputError(path, f"a JSON sidecar must hold an object, not a {type(content).__name__}")
    return content


def _number(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def value_text(key: str, value) -> str | None:
    """A sidecar value as text, None when missing (null, '', 'n/a', empty list), so that 3 and
    3.0 (and "3" for the field strength) are one acquisition, not two."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number(value)
    if isinstance(value, str):
        if is_missing(value):
            return None
        text = value.strip()
        return _number(float(text)) if key == FIELD_STRENGTH and NUMBER.fullmatch(text) else text
    if isinstance(value, list):
        return " ".join(t for t in (value_text(key, item) for item in value) if t) or None
    return None if value is None else json.dumps(value, sort_keys=True)


def file_metadata(chain: list[list[Named]], keys: tuple[str, ...], read: Reader, data_file: str) -> dict:
    """{key: text or None} for one data file: the nearest level wins per key. Two equally
    specific sidecars at one level that disagree are an error (BIDS allows one per level)."""
    values: dict[str, str | None] = dict.fromkeys(keys)
    for level in chain:
        found: dict[str, tuple[str, str, int]] = {}
        for path, entities in level:
            content = read(path)
            for key in keys:
                text = value_text(key, content.get(key))
                if text is None:
                    continue
                prior = found.get(key)
                if prior and prior[2] == len(entities) and prior[0] != text:
                    raise InputError(
                        os.path.dirname(path),
                        f"{os.path.basename(prior[1])} and {os.path.basename(path)} both apply to "
                        f"{os.path.basename(data_file)} and disagree on {key} ({prior[0]!r} vs {text!r}); "
                        "BIDS allows one applicable sidecar per level",
                    )
                found[key] = (text, path, len(entities))
        values.update({key: item[0] for key, item in found.items()})
    return values


def pick_runs(files: list[Named], source=None) -> list[Named]:
    """The T1w runs the segmentation can have come from: the one whose source entities
    equal the source's; else those consistent with the source; else all (the caller then
    requires them to agree)."""
    if source is None or len(files) < 2:
        return files
    wanted = source_entities(source)
    exact = [f for f in files if source_entities(f[1]) == wanted]
    if len(exact) == 1:
        return exact
    consistent = [f for f in files if _applies(wanted, f[1])]
    return consistent or files


def sidecar_metadata(
    layout: SessionLayout, keys: tuple[str, ...], source=None, read: Reader = read_sidecar
) -> dict[str, str | None]:
    """The session's acquisition metadata ({key: text or None}; all None without sidecars).
    Several T1w runs are fine when they agree on ``keys``; otherwise the one ``source`` names
    is used, and without one the session is an InputError naming its anat folder."""
    keys = tuple(keys)
    candidates = pick_runs(layout.files, source)
    found = [(path, file_metadata(applicable(layout.levels, e), keys, read, path)) for path, e in candidates]
    if not found:
        return dict.fromkeys(keys)
    first_path, first = found[0]
    for path, values in found[1:]:
        if values == first:
            continue
        key = next(k for k in keys if values[k] != first[k])
        names = ", ".join(os.path.basename(p) for p, _ in found)
        if source is None:
            told = "the segmentation does not say which one it came from"
        else:
            told = f"the segmentation's source ({source_entities(source) or source!r}) does not pick one"
        raise InputError(
            layout.anat_dir,
            f"several T1w runs ({names}) with different acquisition metadata ({key}: {first[key]!r} in "
            f"{os.path.basename(first_path)}, {values[key]!r} in {os.path.basename(path)}) and {told}; "
            "name the run in the label image (e.g. run-1), or give this session a "
            f"'{SCANNER_COLUMN}' value in the subject's sessions.tsv",
        )
    return first


def subject_layouts(
    bids_dir, subject: str, sessions: Iterable[str], top_level: list[Named] | None = None
) -> dict[str, SessionLayout]:
    """{session: its layout} for one subject's sessions, from directory listings only.
    ``top_level`` is :func:`top_level_sidecars`, listed once for all subjects."""
    bids_dir = str(bids_dir)
    subject = subject_label(subject, bids_dir)
    top = top_level_sidecars(bids_dir) if top_level is None else top_level
    subject_names = file_names(paths.subject_dir(bids_dir, subject))
    return {
        session: session_layout(bids_dir, subject, session, top, subject_names)
        for session in dict.fromkeys(session_label(s, bids_dir) for s in sessions)
    }


def input_files(
    bids_dir,
    subject: str,
    sessions: Iterable[str],
    top_level: list[Named] | None = None,
    layouts: dict[str, SessionLayout] | None = None,
) -> list[str]:
    """Every existing file one subject's answer depends on — the subject's sessions.tsv and each
    T1w sidecar that applies to a T1w data file of the given sessions, at any level — from
    directory listings only (no file is opened), for declaring inputs at DAG-build time.
    ``layouts`` are :func:`subject_layouts` where the caller has them."""
    bids_dir = str(bids_dir)
    subject = subject_label(subject, bids_dir)
    if layouts is None:
        layouts = subject_layouts(bids_dir, subject, sessions, top_level)
    needed = set()
    sessions_tsv = paths.sessions_table(bids_dir, subject)
    if os.path.exists(sessions_tsv):
        needed.add(sessions_tsv)
    for layout in layouts.values():
        for _, entities in layout.files:
            for level in applicable(layout.levels, entities):
                needed.update(path for path, _ in level)
    return sorted(needed)
