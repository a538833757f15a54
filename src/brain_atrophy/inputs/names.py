"""BIDS file names: the one parser, and the one list of entities that name a source scan.

``sub-1_ses-2_acq-mprage_run-1_T1w.nii.gz`` is entities (``key-value`` pairs, in order), a
suffix (``T1w``) and an extension. Discovery, the acquisitions and the session times all read
names here; names are built by :mod:`brain_atrophy.paths`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import NamedTuple

from .. import paths
from ..errors import InputError

LABEL = re.compile(r"[a-zA-Z0-9]+")
ENTITY = re.compile(r"([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")
IMAGE_EXTENSIONS = (".nii.gz", ".nii")
# Entities a derivative keeps from the T1w it was made from (the rest, such as desc, space,
# res or label, describe the derivative): they pick the source scan among a session's runs.
SOURCE_ENTITIES = ("acq", "ce", "rec", "run", "echo", "inv", "part")  # BIDS order


class BidsName(NamedTuple):
    entities: dict[str, str]
    suffix: str
    extension: str


def parse_name(name: str) -> BidsName | None:
    """The parts of a BIDS file name such as ``sub-1_ses-2_run-1_T1w.nii.gz`` or
    ``acq-mprage_T1w.json``; None when the name does not follow the pattern (an entity twice, a
    part without ``-``, no extension), so stray files (``.DS_Store``, ``notes.txt``) are ignored
    rather than misread."""
    stem, dot, extension = name.partition(".")
    if not dot:
        return None
    *parts, suffix = stem.split("_")
    if not LABEL.fullmatch(suffix):
        return None
    entities: dict[str, str] = {}
    for part in parts:
        match = ENTITY.fullmatch(part)
        if not match or match.group(1) in entities:
            return None
        entities[match.group(1)] = match.group(2)
    return BidsName(entities, suffix, "." + extension)


def image_entities(filename: str, suffix: str) -> dict[str, str] | None:
    """Entities of an image ``..._<suffix>.nii[.gz]``; None for any other file."""
    parsed = parse_name(filename)
    if parsed is None or parsed.suffix != suffix or parsed.extension not in IMAGE_EXTENSIONS:
        return None
    return parsed.entities


def check_label(kind: str, label: str, where) -> str:
    """``label`` itself when it is a BIDS label ([a-zA-Z0-9]+); else an InputError at ``where``."""
    if not LABEL.fullmatch(label):
        raise InputError(where, f"{kind} label '{label}' has characters outside BIDS' [a-zA-Z0-9]")
    return label


def subject_label(text: str, where) -> str:
    """'sub-01' or '01' → '01', checked."""
    return check_label("participant", paths.subject_label(text), where)


def session_label(text: str, where) -> str:
    """'ses-w24' or 'w24' → 'w24', checked."""
    return check_label("session", paths.session_label(text), where)


def source_entities(source) -> dict[str, str]:
    """The source-scan entities (:data:`SOURCE_ENTITIES`, in BIDS order) of a file name or
    path, or of an entities dict (e.g. a label image's)."""
    if isinstance(source, Mapping):
        entities = source
    else:
        parsed = parse_name(os.path.basename(str(source)))
        entities = parsed.entities if parsed else {}
    return {key: entities[key] for key in SOURCE_ENTITIES if key in entities}


def source_t1w_stem(label_path: str, suffix: str = "dseg") -> str | None:
    """The raw T1w a BIDS label image was segmented from, as a name without extension:
    ``sub-1_ses-2_run-1_desc-aseg_dseg.nii.gz`` → ``sub-1_ses-2_run-1_T1w``; None when the
    name is not BIDS."""
    entities = image_entities(os.path.basename(label_path), suffix)
    if not entities or "sub" not in entities or "ses" not in entities:
        return None
    kept = {"sub": entities["sub"], "ses": entities["ses"], **source_entities(entities)}
    return paths.entity_name(kept, "T1w")
