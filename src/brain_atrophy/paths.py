"""BIDS entities and names: the one place that writes ``sub-``, ``ses-`` and file suffixes.

Everything the pipeline reads from a BIDS raw dataset or writes into its BIDS-Derivatives
output is named here; rules, scripts and the package ask these functions. Labels are the bare
``[a-zA-Z0-9]+`` part ("01"); ids carry the prefix ("sub-01"). Every function is a pure string
operation (a wildcard such as ``"{subject}"`` passes through, so rules build their patterns here
too).
"""

from __future__ import annotations

import os
from pathlib import Path

SUBJECT, SESSION = "sub-", "ses-"


def participant_id(label: str) -> str:
    """'01' → 'sub-01'."""
    return f"{SUBJECT}{label}"


def session_id(label: str) -> str:
    """'w24' → 'ses-w24'."""
    return f"{SESSION}{label}"


def subject_label(text: str) -> str:
    """'sub-01' or '01' → '01'."""
    return str(text).strip().removeprefix(SUBJECT)


def session_label(text: str) -> str:
    """'ses-w24' or 'w24' → 'w24'."""
    return str(text).strip().removeprefix(SESSION)


def as_participant_id(text: str) -> str:
    """An id as users write it, with or without the prefix → 'sub-<label>'."""
    return participant_id(subject_label(text))


def as_session_id(text: str) -> str:
    return session_id(session_label(text))


def entity_name(entities: dict[str, str], suffix: str, extension: str = "") -> str:
    """{'sub': '1', 'ses': '2', 'run': '1'} + 'T1w' → 'sub-1_ses-2_run-1_T1w' (in the given order)."""
    return "_".join([*(f"{key}-{value}" for key, value in entities.items()), suffix]) + extension


# ---------------------------------------------------------------- the BIDS raw dataset


def subject_dir(root, subject: str) -> str:
    return os.path.join(str(root), participant_id(subject))


def session_dir(root, subject: str, session: str) -> str:
    return os.path.join(subject_dir(root, subject), session_id(session))


def sessions_table(bids_dir, subject: str) -> str:
    """``sub-<label>/sub-<label>_sessions.tsv``."""
    return os.path.join(subject_dir(bids_dir, subject), f"{participant_id(subject)}_sessions.tsv")


def scans_table(bids_dir, subject: str, session: str) -> str:
    """``sub-<label>/ses-<label>/sub-<label>_ses-<label>_scans.tsv``."""
    name = f"{participant_id(subject)}_{session_id(session)}_scans.tsv"
    return os.path.join(session_dir(bids_dir, subject, session), name)


def anat_file(root, subject: str, session: str, suffix: str, extension: str, **entities: str) -> str:
    """``sub-<label>/ses-<label>/anat/sub-<label>_ses-<label>[_<key>-<value>…]_<suffix><extension>``,
    in a raw or a derivative dataset."""
    name = entity_name({"sub": subject, "ses": session, **entities}, suffix, extension)
    return os.path.join(session_dir(root, subject, session), "anat", name)


def is_subject_dir(name: str) -> bool:
    return name.startswith(SUBJECT)


def is_session_dir(name: str) -> bool:
    return name.startswith(SESSION)


# ---------------------------------------------------------------- the output dataset


def subject_output(out, subject: str) -> str:
    """The subject job's folder: ``<out>/sub-<label>``."""
    return subject_dir(out, subject)


def subject_outputs(folder, subject: str, sessions=()) -> dict:
    """The subject job's files inside its folder (``<out>/sub-<label>``): each session's
    ``ses-<label>/anat/sub-<label>_ses-<label>_volumes.tsv``, the subject's
    ``anat/sub-<label>_volumes.tsv`` (every session), its QC mosaic
    ``figures/sub-<label>_desc-regions_qc.png``, with change_measure: jacobian each follow-up's
    registration QC ``anat/sub-<label>_registration.tsv``, and, for a subject left out under --keep-going,
    ``sub-<label>_errors.tsv``."""
    root, sub = Path(folder), participant_id(subject)
    return {
        "sessions": {
            ses: root / session_id(ses) / "anat" / f"{sub}_{session_id(ses)}_volumes.tsv" for ses in sessions
        },
        "volumes": root / "anat" / f"{sub}_volumes.tsv",
        "registration": root / "anat" / f"{sub}_registration.tsv",
        "mosaic": root / "figures" / f"{sub}_desc-regions_qc.png",
        "errors": root / f"{sub}_errors.tsv",
    }


def registration_output(out, subject: str, session: str) -> str:
    """A follow-up's registration to its baseline, one job's folder (change_measure: jacobian):
    ``<out>/registration/sub-<label>/ses-<label>``. Outside the subject's folder, so that a
    subject job's rerun (new regions, a new session) keeps every registration."""
    return os.path.join(str(out), REGISTRATION, participant_id(subject), session_id(session))


def registration_files(folder, subject: str, session: str) -> dict:
    """The registration job's files in its folder: the Jacobian determinant on the baseline
    T1w's grid, the follow-up warped onto that grid (QC), the pair's QC measures and settings,
    and, for a pair that failed under --keep-going, what was wrong."""
    root, stem = Path(folder), f"{participant_id(subject)}_{session_id(session)}"
    return {
        "jacobian": root / f"{stem}_space-baseline_jacobian.nii.gz",
        "warped": root / f"{stem}_space-baseline_T1w.nii.gz",
        "measures": root / f"{stem}_registration.json",
        "errors": root / f"{stem}_errors.tsv",
    }


def atlas_registration_output(out, subject: str) -> str:
    """The template's registration to a subject's baseline T1w, one job's folder
    (atlas_registration): ``<out>/atlas/sub-<label>``. Outside the subject's folder, so that a
    subject job's rerun (a new atlas, a new session) keeps it."""
    return os.path.join(str(out), ATLAS, participant_id(subject))


def atlas_registration_files(folder, subject: str, session: str) -> dict:
    """The template registration job's files in its folder: the maps from the template to the
    baseline T1w (the warp, then the affine, in the order ANTs applies them), the template's
    brain mask on the T1w's grid, the QC measures and, for a baseline that failed under
    --keep-going, what was wrong."""
    root, stem = Path(folder), f"{participant_id(subject)}_{session_id(session)}"
    return {
        "warp": root / f"{stem}_from-template_to-T1w_desc-warp_xfm.nii.gz",
        "affine": root / f"{stem}_from-template_to-T1w_desc-affine_xfm.mat",
        "brain_mask": root / f"{stem}_desc-brain_mask.nii.gz",
        "measures": root / f"{stem}_desc-template_registration.json",
        "errors": root / f"{stem}_errors.tsv",
    }


def atlas_labels(folder, subject: str, session: str) -> Path:
    """The atlas labels carried onto the baseline T1w, in the subject job's folder:
    ``ses-<label>/anat/sub-<label>_ses-<label>_desc-atlas_dseg.nii.gz`` (its sidecar beside it,
    ``.json``)."""
    name = entity_name({"sub": subject, "ses": session, "desc": "atlas"}, "dseg", ".nii.gz")
    return Path(folder) / session_id(session) / "anat" / name


# what `snakemake --report` collects from a subject's folder (its QC mosaic)
SUBJECT_REPORT_PATTERNS = ["figures/{name}_qc.png"]

# The output dataset's top level: BIDS names for the subjects' folders; the rest has no BIDS
# name and is listed in .bidsignore.
GROUP, FIGURES, LOGS, REGISTRATION, ATLAS = "group", "figures", "logs", "registration", "atlas"
REPORT_PAGE = "report.html"
DATASET_DESCRIPTION = "dataset_description.json"
BIDSIGNORE = ".bidsignore"
VOLUMES_SIDECAR = "volumes.json"  # describes the columns of every *_volumes.tsv below it
REGISTRATION_SIDECAR = "registration.json"  # … and of every *_registration.tsv


def dataset_file(out, name: str) -> str:
    """A file at the output dataset's root, e.g. ``report.html``, ``.bidsignore``."""
    return os.path.join(str(out), name)


def group_file(out, name: str) -> str:
    """``<out>/group/<name>``: the group step's tables (``volumes.tsv``), ``analysis.json``…"""
    return os.path.join(str(out), GROUP, name)


def group_table(out, name: str) -> str:
    """``<out>/group/<name>.tsv``."""
    return group_file(out, f"{name}.tsv")


def figure(out, name: str) -> str:
    """``<out>/figures/<name>``: a group-level figure (or folder of figures)."""
    return os.path.join(str(out), FIGURES, name)


def job_log(out, rule: str) -> str:
    """``<out>/logs/<rule>.log``: the log of a rule with one job."""
    return os.path.join(str(out), LOGS, f"{rule}.log")


def subject_log(out, rule: str, subject: str) -> str:
    """``<out>/logs/<rule>/sub-<label>.log``: a per-subject job's log."""
    return os.path.join(str(out), LOGS, rule, f"{participant_id(subject)}.log")


def pair_log(out, rule: str, subject: str, session: str) -> str:
    """``<out>/logs/<rule>/sub-<label>_ses-<label>.log``: a per-session job's log."""
    return os.path.join(str(out), LOGS, rule, f"{participant_id(subject)}_{session_id(session)}.log")


# .bidsignore (gitignore syntax, relative to the output root); without a trailing slash: the
# validator still flags a folder listed as "group/".
BIDSIGNORE_PATTERNS = [
    ("group-level tables, the model summary, methods and configuration", [f"/{GROUP}"]),
    ("figures (group level and each subject's QC mosaic)", [f"/{FIGURES}", f"{SUBJECT}*/figures"]),
    ("one log per job", [f"/{LOGS}"]),
    ("each follow-up's registration to its baseline (Jacobian maps, warped T1w)", [f"/{REGISTRATION}"]),
    ("the template's registration to each subject's baseline (atlas_registration)", [f"/{ATLAS}"]),
    ("the study's report page", [f"/{REPORT_PAGE}"]),
    (
        "tables BIDS has no suffix for, and the top-level sidecar describing their columns",
        ["*_volumes.tsv", "*_registration.tsv", f"/{VOLUMES_SIDECAR}", f"/{REGISTRATION_SIDECAR}"],
    ),
    ("a subject left out under --keep-going: what was wrong with its input", [f"{SUBJECT}*/*_errors.tsv"]),
]
