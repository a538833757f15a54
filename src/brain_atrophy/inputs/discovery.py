"""Finding a study's images: label images, tissue maps and T1w, by walking directories.

Discovery lists directories only (no file is opened), so a dry run over thousands of
sessions stays cheap and works on trees of empty placeholder files.
"""

from __future__ import annotations

import fnmatch
import glob
import os
import re
from typing import NamedTuple

from .. import paths
from ..errors import InputError
from .names import image_entities, session_label, subject_label
from .sidecars import input_files, subject_layouts, top_level_sidecars


def _subdirs(path: str, prefix: str):
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                if entry.name.startswith(prefix) and entry.is_dir():
                    yield entry.name, entry.path
    except FileNotFoundError:
        return


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
    for sub_dir, sub_path in sorted(_subdirs(str(derivatives_dir), paths.SUBJECT)):
        subject = subject_label(sub_dir, sub_path)
        for ses_dir, ses_path in sorted(_subdirs(sub_path, paths.SESSION)):
            session = session_label(ses_dir, ses_path)
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
    entities = image_entities(name, suffix)
    if entities is None or entities.get("sub") != subject or entities.get("ses") != session:
        return False
    return all(entities.get(key) == value for key, value in filters.items())


PATTERN_WILDCARD = re.compile(r"\{(subject|session)\}")


def pattern_regex(pattern: str) -> re.Pattern:
    """The regular expression of a path pattern with ``{subject}`` and ``{session}`` (labels,
    [a-zA-Z0-9]+) and optional glob ``*`` / ``?`` within one path component."""
    parts = []
    for piece in re.split(r"(\{subject\}|\{session\}|\*|\?)", pattern):
        if piece in ("{subject}", "{session}"):
            name = piece[1:-1]
            parts.append(
                f"(?P<{name}>[a-zA-Z0-9]+)" if f"(?P<{name}>" not in "".join(parts) else f"(?P={name})"
            )
        elif piece == "*":
            parts.append("[^/]*")
        elif piece == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def find_pattern_images(pattern: str) -> dict[str, dict[str, str]]:
    """{subject: {session: path}} of the files matching a path pattern such as
    ``/data/synthseg/sub-{subject}_ses-{session}_T1w_synthseg.nii.gz`` (SynthSeg beside its
    inputs) or ``/data/fastsurfer/sub-{subject}_ses-{session}/mri/aparc.DKTatlas+aseg.deep.mgz``.
    Matched once, with one glob; two files for one session are an InputError naming both."""
    if set(PATTERN_WILDCARD.findall(pattern)) != {"subject", "session"}:
        raise InputError("config", f"segmentation_pattern '{pattern}' needs both {{subject}} and {{session}}")
    regex = pattern_regex(pattern)
    found: dict[str, dict[str, str]] = {}
    for path in sorted(glob.glob(PATTERN_WILDCARD.sub("*", pattern))):
        match = regex.fullmatch(path)
        if not match:
            continue
        subject, session = match.group("subject"), match.group("session")
        if session in found.get(subject, {}):
            raise InputError(
                pattern,
                f"two files match {paths.participant_id(subject)} {paths.session_id(session)}: "
                f"{found[subject][session]} and {path}; "
                "make the pattern more specific",
            )
        found.setdefault(subject, {})[session] = path
    return found


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
                f"two longitudinal runs for {paths.participant_id(subject)} {paths.session_id(session)} "
                f"({entry.name} and another)",
            )
        found.setdefault(subject, {})[session] = path
    return found


# ---------------------------------------------------------------- the workflow's one call


class Discovered(NamedTuple):
    """What a config finds: ``label_images`` {subject: {session: label image, or in tissue-map
    mode {tissue: probability map}}} and ``t1w_images`` {subject: {session: T1w}} (empty when
    the config does not use them)."""

    label_images: dict
    t1w_images: dict

    @property
    def subjects(self) -> list[str]:
        return sorted(self.label_images)


def discover(config: dict) -> Discovered:
    """Every image a config points at (see find_images); with change_measure: jacobian, every
    session's T1w: the segmentation dataset's where present, otherwise the raw dataset's
    (``bids_dir``, ``t1w_filters`` picks one), otherwise ``t1w_pattern``'s. With
    atlas_registration there are no label images to find: the T1w images are all."""
    found = Discovered({}, {}) if config.get("atlas_registration") else find_images(config)
    if config.get("change_measure", "labels") != "jacobian" and not config.get("atlas_registration"):
        return found
    raw = find_session_images(config["bids_dir"], {"T1w": config["t1w_filters"]})["T1w"]
    pattern = find_pattern_images(config["t1w_pattern"]) if config.get("t1w_pattern") else {}
    t1w: dict = {}
    for source in (pattern, raw, found.t1w_images):  # later sources take precedence
        for subject, sessions in source.items():
            t1w.setdefault(subject, {}).update(sessions)
    return Discovered(found.label_images, t1w)


def measured_sessions(found: Discovered, change_measure: str = "labels") -> dict:
    """{subject: [session, …]} in natural order (digit runs as numbers: 'w24' before 'w144'):
    the sessions with a label image, and with change_measure: jacobian also those with only a
    T1w (a follow-up needs no labels). The first is the subject's baseline."""
    sessions: dict = {s: set(found.label_images[s]) for s in found.label_images}
    if change_measure == "jacobian":
        for subject, t1w in found.t1w_images.items():
            sessions.setdefault(subject, set()).update(t1w)
    return {subject: sorted(labels, key=natural_order) for subject, labels in sorted(sessions.items())}


def natural_order(label: str) -> list:
    """'w24' before 'w144': digit runs compare as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", label)]


def find_images(config: dict) -> Discovered:
    """Every image a (schema-validated) config points at, from directory listings only: the
    segmentation dataset's ``sub-*/ses-*/anat/`` (label images or tissue maps), a path pattern
    (``segmentation_pattern``), or FreeSurfer's longitudinal SUBJECTS_DIR; and the T1w images
    the labels were made from, for the QC mosaics."""
    seg_dir, use_t1w = config.get("segmentation_dir"), config.get("use_t1w", True)
    if config.get("tissue_maps"):
        found = find_session_images(seg_dir, {"T1w": config["t1w_filters"]}) if use_t1w else {}
        return Discovered(find_tissue_maps(seg_dir, config["tissue_maps"]), found.get("T1w", {}))
    if config.get("segmentation_pattern"):
        # label images where the segmenter left them (SynthSeg beside its input, FastSurfer's
        # SUBJECTS_DIR): one glob, matched once
        t1w_pattern = config.get("t1w_pattern")
        return Discovered(
            find_pattern_images(config["segmentation_pattern"]),
            find_pattern_images(t1w_pattern) if t1w_pattern and use_t1w else {},
        )
    if config.get("segmentation_layout") == "freesurfer_long":
        return Discovered(
            find_freesurfer_long(seg_dir, config["freesurfer_volume"]),
            find_freesurfer_long(seg_dir, config["freesurfer_t1w"]) if use_t1w else {},
        )
    wanted = {"dseg": config["segmentation_filters"]}
    if use_t1w:
        wanted["T1w"] = config["t1w_filters"]
    found = find_session_images(seg_dir, wanted)
    return Discovered(found["dseg"], found.get("T1w", {}))


class SessionMetadata(NamedTuple):
    """Where each measured session's metadata lives in the BIDS raw dataset, from listings only:
    ``time_tables`` {subject: {"sessions_tsv": path or None, "scans": {session: scans.tsv}}},
    ``layouts`` {(subject, session): its T1w files and sidecars}, and ``files``, every
    sessions.tsv, scans.tsv and applicable sidecar (the group job's inputs, so that editing one
    reruns the group steps only)."""

    time_tables: dict
    layouts: dict
    files: list[str]


def session_metadata(bids_dir, label_images: dict) -> SessionMetadata:
    """The metadata of every session in ``label_images`` ({subject: {session: …}})."""
    top = top_level_sidecars(bids_dir)
    time_tables, layouts, files = {}, {}, set()
    for subject, sessions in label_images.items():
        sessions_tsv = paths.sessions_table(bids_dir, subject)
        scans = {s: paths.scans_table(bids_dir, subject, s) for s in sessions}
        time_tables[subject] = {
            "sessions_tsv": sessions_tsv if os.path.exists(sessions_tsv) else None,
            "scans": {s: path for s, path in scans.items() if os.path.exists(path)},
        }
        own = subject_layouts(bids_dir, subject, sessions, top)
        layouts.update({(subject, s): layout for s, layout in own.items()})
        files.update(time_tables[subject]["scans"].values())
        files.update(input_files(bids_dir, subject, sessions, layouts=own))
    return SessionMetadata(time_tables, layouts, sorted(files))


def image_names(label_images: dict) -> dict:
    """{subject: {session: label image file name}}: what each session was segmented from (a
    BIDS name carries the T1w's source entities); in tissue-map mode, the first map's."""
    return {
        subject: {
            s: os.path.basename(next(iter(p.values())) if isinstance(p, dict) else p)
            for s, p in sessions.items()
        }
        for subject, sessions in label_images.items()
    }


def all_images(*found: dict) -> list[str]:
    """Every image path in {subject: {session: path or {tissue: path}}} tables."""
    images = []
    for table in found:
        for sessions in table.values():
            for image in sessions.values():
                images += list(image.values()) if isinstance(image, dict) else [image]
    return images
