"""Which acquisition (scanner and protocol) each session was measured on, from a BIDS raw dataset.

Why: a scanner or software upgrade mid-study shifts segmentation volumes by a few per cent — more
than a decade of healthy ageing — so the group-level mixed model needs a session-level acquisition
factor (a step in the outcome). BIDS keeps the acquisition in the T1w's JSON sidecars, spread over
dataset, subject, session and file level by the inheritance principle; some datasets name the
scanner in ``sessions.tsv`` instead. This module turns either into one readable label per
distinct acquisition and one row per session.

The sidecars themselves (which apply, what they say) are :mod:`.sidecars`.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Mapping

from .. import paths
from ..errors import InputError
from ..tables import is_missing, read_table
from .names import session_label, subject_label
from .sidecars import (
    FIELD_STRENGTH,
    NUMBER,
    SCANNER_COLUMN,
    Reader,
    SessionLayout,
    file_names,
    read_sidecar,
    session_layout,
    sidecar_metadata,
    top_level_sidecars,
)

DEFAULT_KEYS = ("Manufacturer", "ManufacturersModelName", "MagneticFieldStrength", "SoftwareVersions")
UNKNOWN = "unknown"
SIDECAR, SESSIONS_TSV, NONE = "sidecar", "sessions.tsv", "none"


def scanner_column(path) -> dict[str, str]:
    """{session label: scanner text} from a sessions.tsv's ``scanner`` column ('n/a' and empty
    cells left out); {} when the file or the column is absent, as the column is optional."""
    if not os.path.isfile(path):
        return {}
    table = read_table(path)
    if SCANNER_COLUMN not in table.columns:
        return {}
    table.require(["session_id"], f"a sessions table with a '{SCANNER_COLUMN}' column")
    scanners: dict[str, str] = {}
    first_line: dict[str, int] = {}
    for line, row in table.numbered():
        session, text = paths.session_label(row["session_id"]), row[SCANNER_COLUMN]
        if is_missing(text):
            continue
        if session in scanners and scanners[session] != text:
            raise InputError(
                path,
                f"line {line}: {paths.session_id(session)} is listed again (line {first_line[session]}) "
                "with another "
                f"{SCANNER_COLUMN} ({scanners[session]!r} vs {text!r})",
            )
        scanners.setdefault(session, text)
        first_line.setdefault(session, line)
    return scanners


# ---------------------------------------------------------------- labels and the answer


def _field_label(text: str) -> str:
    return f"{text}T" if NUMBER.fullmatch(text) else text


def acquisition_label(values: Mapping[str, str | None], keys: Iterable[str] = DEFAULT_KEYS) -> str:
    """A readable name such as ``Siemens Skyra 3T syngo MR E11``: the values in key order,
    the field strength in tesla, missing ones skipped."""
    parts = []
    for key in keys:
        text = values.get(key)
        if text is not None:
            parts.append(_field_label(text) if key == FIELD_STRENGTH else text)
    return " ".join(parts) or UNKNOWN


def distinct_labels(bases: list[tuple[object, str]]) -> dict[object, str]:
    """{identity: label} in the given order: the first keeps its base label, a later identity
    with a taken label gets ' (2)', ' (3)'…, so two acquisitions never share a label."""
    labels: dict[object, str] = {}
    taken: set[str] = set()
    for identity, base in bases:
        label, number = base, 1
        while label in taken:
            number += 1
            label = f"{base} ({number})"
        taken.add(label)
        labels[identity] = label
    return labels


def _pairs(sessions, where) -> list[tuple[str, str]]:
    """(subject, session) labels without prefixes, in the given order, each once."""
    if isinstance(sessions, Mapping):
        items = [(subject, session) for subject, listed in sessions.items() for session in listed]
    else:
        items = list(sessions)
    pairs = [(subject_label(sub, where), session_label(ses, where)) for sub, ses in items]
    return list(dict.fromkeys(pairs))


def _caching(read: Reader) -> Reader:
    """``read`` remembering its answers for one call (the dataset-level sidecar serves every
    session)."""
    cache: dict[str, dict] = {}

    def cached(path: str) -> dict:
        if path not in cache:
            cache[path] = read(path)
        return cache[path]

    return cached


def session_acquisitions(
    bids_dir,
    sessions: Mapping[str, Iterable[str]] | Iterable[tuple[str, str]],
    keys: Iterable[str] = DEFAULT_KEYS,
    sources: Mapping[tuple[str, str], object] | None = None,
    layouts: Mapping[tuple[str, str], SessionLayout] | None = None,
) -> list[dict]:
    """One row per session (in the given order): participant_id, session_id, scanner (the
    acquisition's label), source ('sidecar', 'sessions.tsv' or 'none'), then each key's value as
    text (None when missing). A sessions.tsv ``scanner`` value overrides the sidecars; sessions
    with neither share the acquisition ``unknown`` (see :func:`unknown_sessions`).

    ``sources`` maps (subject, session) to what the segmentation came from (a T1w or label
    image name, or the label image's entities dict) to choose among T1w runs that disagree.
    ``layouts`` maps (subject, session) to its :class:`SessionLayout` where the caller listed
    the dataset already (the workflow, at DAG-build time); other sessions are listed here.
    """
    bids_dir, keys = str(bids_dir), tuple(keys)
    sources = {
        (subject_label(a, bids_dir), session_label(b, bids_dir)): v for (a, b), v in (sources or {}).items()
    }
    layouts = layouts or {}
    read = _caching(read_sidecar)
    top = functools.cache(lambda: top_level_sidecars(bids_dir))  # only for sessions without a layout

    per_subject: dict[str, tuple[dict[str, str], str]] = {}
    found = []  # (subject, session, source, identity, base label, values)
    for subject, session in _pairs(sessions, bids_dir):
        if subject not in per_subject:
            subject_dir = paths.subject_dir(bids_dir, subject)
            table = paths.sessions_table(bids_dir, subject)
            per_subject[subject] = (scanner_column(table), subject_dir)
        scanners, subject_dir = per_subject[subject]
        if session in scanners:
            text = scanners[session]
            found.append((subject, session, SESSIONS_TSV, (SESSIONS_TSV, text), text, dict.fromkeys(keys)))
            continue
        layout = layouts.get((subject, session)) or session_layout(
            bids_dir, subject, session, top(), file_names(subject_dir)
        )
        values = sidecar_metadata(layout, keys, sources.get((subject, session)), read)
        if all(value is None for value in values.values()):
            found.append((subject, session, NONE, (NONE,), UNKNOWN, values))
        else:
            identity = (SIDECAR, tuple(values[key] for key in keys))
            found.append((subject, session, SIDECAR, identity, acquisition_label(values, keys), values))
    labels = distinct_labels(_label_order(found))
    return [
        {
            "participant_id": paths.participant_id(sub),
            "session_id": paths.session_id(ses),
            "scanner": labels[identity],
            "source": src,
        }
        | values
        for sub, ses, src, identity, _, values in found
    ]


def _label_order(found: list[tuple]) -> list[tuple[object, str]]:
    """Identities in the order labels are given: sessions.tsv texts first (the user's own names
    are never changed), then unknown, then sidecar acquisitions sorted by label and values, so a
    label does not depend on the order of the sessions."""
    bases = {identity: base for _, _, _, identity, base, _ in found}
    rank = {SESSIONS_TSV: 0, NONE: 1, SIDECAR: 2}

    def order(identity: tuple) -> tuple:
        values = tuple("" if v is None else v for v in identity[1]) if identity[0] == SIDECAR else ()
        return rank[identity[0]], bases[identity], values

    return [(identity, bases[identity]) for identity in sorted(bases, key=order)]


def unknown_sessions(rows: list[dict]) -> list[tuple[str, str]]:
    """(participant_id, session_id) of the sessions without any acquisition metadata, for the
    caller to log once (they share the acquisition ``unknown``; not an error)."""
    return [(row["participant_id"], row["session_id"]) for row in rows if row["source"] == NONE]
