"""The cohort the group model sees: participants, each session's time, acquisition and ICV,
exclusions and the analysis window — everything between the subjects' volume tables and the
model, as small functions on tables."""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..errors import InputError
from ..inputs.acquisitions import session_acquisitions, unknown_sessions
from ..inputs.times import WEEKS_PER_YEAR, session_numbers, session_times, years_since_first
from ..tables import read_frame

log = logging.getLogger(__name__)

# The covariate name that means "each subject's intracranial volume at its first scan" (from
# sessions.tsv or measured from the label images), unless participants.tsv has that column.
ICV_COVARIATE = "icv"
# A sessions.tsv column with each session's intracranial volume (mm³) from another tool
# (e.g. FreeSurfer's eTIV), carried into the volume table as session_icv_mm3.
SESSIONS_ICV_COLUMN = "icv"
SESSION_COLUMNS = ["participant_id", "session_id", "acq_time", "years", "time_source", "session_icv_mm3"]
EXCLUDED_COLUMNS = ["participant_id", "session_id", "kind", "reason"]


def subject_sessions(subject: str, sessions: list[str], sources: dict, time_setting=None) -> list[dict]:
    """One row per session of ``subject`` (labels without prefixes): its time (years since the
    subject's first session, and where it came from) and its sessions.tsv ICV. ``sources``:
    ``sessions_tsv`` (or None), ``scans`` ({session: scans.tsv}), ``source_t1w`` ({session: the
    raw T1w's name without extension})."""
    times = session_times(
        sessions, sources.get("sessions_tsv"), sources.get("scans"), sources.get("source_t1w"), time_setting
    )
    years = years_since_first(times)
    icv = session_numbers(sources.get("sessions_tsv"), SESSIONS_ICV_COLUMN)
    return [
        {
            "participant_id": paths.participant_id(subject),
            "session_id": paths.session_id(session),
            "acq_time": times[session].acq_time.isoformat() if times[session].acq_time else None,
            "years": years[session],
            "time_source": times[session].source,
            "session_icv_mm3": icv.get(session),
        }
        for session in sessions
    ]


def assemble_sessions(
    volumes: pd.DataFrame, session_sources: dict, time_setting=None, keep_going: bool = False
) -> tuple[pd.DataFrame, list[dict]]:
    """The measured volumes with each session's time and ICV; a subject whose time cannot be
    read is an InputError, or with ``keep_going`` is left out and listed."""
    rows, left_out = [], []
    measured = volumes.drop_duplicates(["participant_id", "session_id"])
    for participant, sessions in measured.groupby("participant_id", sort=True)["session_id"]:
        subject = paths.subject_label(participant)
        labels = [paths.session_label(s) for s in sessions]
        try:
            rows += subject_sessions(subject, labels, session_sources.get(subject, {}), time_setting)
        except InputError as err:
            if not keep_going:
                raise
            log.error("left out (--keep-going): %s", err)
            left_out.append(
                {"participant_id": participant, "session_id": "", "kind": "input error", "reason": str(err)}
            )
    sessions_table = pd.DataFrame(rows, columns=SESSION_COLUMNS)
    sessions_table["session_icv_mm3"] = sessions_table["session_icv_mm3"].astype(float)
    merged = volumes.merge(sessions_table, on=["participant_id", "session_id"], how="inner")
    return merged, left_out


def acquisitions_table(bids_dir, volumes: pd.DataFrame, keys, sources=None, layouts=None) -> pd.DataFrame:
    """participant_id, session_id, scanner (a readable label), source, then each key's value,
    for every measured session; sessions without metadata are one 'unknown' acquisition.
    ``layouts``: the sessions' T1w files and sidecars as the workflow listed them."""
    pairs = list(volumes[["participant_id", "session_id"]].drop_duplicates().itertuples(index=False))
    rows = session_acquisitions(bids_dir, [tuple(p) for p in pairs], tuple(keys), sources, layouts)
    unknown = unknown_sessions(rows)
    if unknown:
        log.info("%d session(s) have no acquisition metadata: one 'unknown' acquisition", len(unknown))
    return pd.DataFrame(rows, columns=["participant_id", "session_id", "scanner", "source", *keys])


def read_participants(path, covariates: list[str]) -> pd.DataFrame:
    """participants.tsv indexed by 'sub-<label>', with 'group' and the requested covariates."""
    table = read_frame(path)
    missing = [c for c in ["participant_id", "group", *covariates] if c not in table.columns]
    if missing:
        raise InputError(
            path,
            f"participants table lacks the column(s) {missing} "
            f"(it has: {', '.join(map(str, table.columns))})",
        )
    ids = table["participant_id"].astype(str).str.strip()
    table["participant_id"] = ids.map(paths.as_participant_id)
    duplicated = table["participant_id"][table["participant_id"].duplicated()].unique()
    if len(duplicated):
        raise InputError(path, f"participant(s) listed twice: {', '.join(duplicated)}")
    table["group"] = table["group"].astype("string").str.strip()
    return table.set_index("participant_id")


def attach_groups(volumes: pd.DataFrame, participants: pd.DataFrame, participants_path) -> pd.DataFrame:
    """Add each subject's group; a measured subject without a group is an InputError."""
    subjects = volumes["participant_id"].unique()
    groups = participants["group"].reindex(subjects)
    lacking = sorted(groups[groups.isna() | (groups == "")].index)
    if lacking:
        raise InputError(
            participants_path,
            f"no group for participant(s) {', '.join(lacking)}, which have label images",
        )
    return volumes.assign(group=volumes["participant_id"].map(groups).astype(str))


def group_order(groups, reference_group: str, config_name="config") -> list[str]:
    present = list(dict.fromkeys(groups))
    if reference_group not in present:
        raise InputError(
            config_name,
            f"reference_group '{reference_group}' is not a group of the measured subjects "
            f"(groups: {', '.join(sorted(present))})",
        )
    return [reference_group] + sorted(g for g in present if g != reference_group)


def apply_window(
    volumes: pd.DataFrame,
    start_weeks: float,
    end_weeks: float | None,
    rebaseline: bool,
    groups: list[str] | None = None,
    group_of: pd.Series | None = None,
):
    """Sessions inside [start, end] weeks on study (since each subject's first scan); with
    ``rebaseline`` each subject's years count from its first scan inside the window. With
    ``groups`` the window applies to those groups' subjects only (``group_of``: participant →
    group); the others keep every session."""
    weeks = volumes["years"] * WEEKS_PER_YEAR
    inside = weeks >= start_weeks - 1e-9
    if end_weeks is not None:
        inside &= weeks <= end_weeks + 1e-9
    windowed = pd.Series(True, index=volumes.index)
    if groups is not None:
        windowed = volumes["participant_id"].map(group_of).isin(groups)
    kept = volumes[inside | ~windowed]
    if rebaseline:
        shift = kept.groupby("participant_id")["years"].transform("min").where(windowed[kept.index], 0.0)
        kept = kept.assign(years=kept["years"] - shift)
    return kept


def window_check(volumes, windowed, groups_windowed: list[str], group_of, start_weeks, reference):
    """(errors, warnings) about what the window did to each group. An error: a group left with
    no subject having two sessions. A warning: a window applied to a group with no session
    between its baseline and ``start_weeks`` (it only loses baselines), or applied to the
    reference group while another group has such early scans (the reference loses its
    baselines while the others keep theirs)."""
    errors, warnings = [], []
    sessions = windowed.drop_duplicates(["participant_id", "session_id"])
    per_subject = sessions.groupby("participant_id").size()
    all_sessions = volumes.drop_duplicates(["participant_id", "session_id"])
    weeks = all_sessions["years"] * WEEKS_PER_YEAR
    early = all_sessions[(weeks > 1e-9) & (weeks < start_weeks - 1e-9)]
    early_groups = set(early["participant_id"].map(group_of))
    for group in sorted(set(group_of.reindex(all_sessions["participant_id"].unique()).dropna())):
        members = per_subject[per_subject.index.map(group_of) == group]
        if not (members >= 2).any():
            errors.append(
                f"window: group {group} has no subject with two sessions in the window "
                f"(start_weeks {start_weeks:g}); leave it out of window.groups or widen the window"
            )
    if start_weeks > 0:
        for group in groups_windowed:
            if group not in early_groups:
                warnings.append(
                    f"window: group {group} has no session between its baseline and week {start_weeks:g}, so "
                    "the window only removes its baselines (and its longest intervals); leave it out of "
                    "window.groups"
                )
        if reference in groups_windowed and early_groups - {reference}:
            warnings.append(
                f"window: applied to the reference group {reference}, which loses its baselines, while "
                f"{', '.join(sorted(early_groups - {reference}))} have scans before week {start_weeks:g}; "
                "for pseudo-atrophy, window only the treated groups (window.groups)"
            )
    return errors, list(dict.fromkeys(warnings))


def window_summary(volumes: pd.DataFrame, windowed: pd.DataFrame, group_of: pd.Series) -> dict:
    """{group: {n_subjects, n_sessions, weeks}}: which sessions each group contributes, with
    their weeks on study (before any rebaselining: ``volumes``, whose rows ``windowed`` keeps)
    rounded to 4-week visits."""
    sessions = windowed.drop_duplicates(["participant_id", "session_id"])
    weeks_on_study = volumes.loc[sessions.index, "years"] * WEEKS_PER_YEAR
    summary = {}
    for group, rows in sessions.groupby(sessions["participant_id"].map(group_of), sort=True):
        summary[str(group)] = {
            "n_subjects": int(rows["participant_id"].nunique()),
            "n_sessions": int(len(rows)),
            "weeks": sorted({int(4 * round(w / 4)) for w in weeks_on_study[rows.index]}),
        }
    return summary


def session_icv(volumes: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each session's intracranial volume (mm³), aligned with ``volumes``' rows, and where it
    came from: the sessions.tsv ``icv`` column when every session has it, else the session's
    labelled volume (all labelled voxels: the segmented ICV when the segmenter labels CSF)."""
    if "session_icv_mm3" in volumes and volumes["session_icv_mm3"].notna().all():
        return volumes["session_icv_mm3"].astype(float), "sessions.tsv icv"
    return volumes["labelled_mm3"].astype(float), "labelled volume of each session"


def baseline_icv(volumes: pd.DataFrame) -> tuple[pd.Series, str]:
    """Each subject's intracranial volume (mm³) at its first session, indexed by
    participant_id, and where it came from: the sessions.tsv ``icv`` column when every subject
    has it there, else the labelled volume of the first label image."""
    first = volumes.sort_values("years", kind="stable").drop_duplicates("participant_id")
    first = first.set_index("participant_id")
    if "session_icv_mm3" in first and first["session_icv_mm3"].notna().all():
        return first["session_icv_mm3"].rename(
            ICV_COVARIATE
        ), "sessions.tsv icv at each subject's first session"
    return first["labelled_mm3"].rename(ICV_COVARIATE), "labelled volume of each subject's first label image"


def apply_exclusions(volumes: pd.DataFrame, exclusions) -> tuple[pd.DataFrame, list[dict]]:
    """Leave out the subjects or sessions the config lists (``exclude``), keeping their cached
    volumes; returns the remaining rows and what was left out, with the reasons."""
    left_out = []
    keep = pd.Series(True, index=volumes.index)
    for item in exclusions:
        subject = paths.as_participant_id(item["participant_id"])
        rows = volumes["participant_id"] == subject
        session = item.get("session_id")
        if session:
            session = paths.as_session_id(session)
            rows &= volumes["session_id"] == session
        if not rows.any():
            raise InputError("config", f"exclude: no measured {subject} {session or ''}".rstrip())
        keep &= ~rows
        left_out.append(
            {
                "participant_id": subject,
                "session_id": session or "",
                "kind": "config exclude",
                "reason": item["reason"],
            }
        )
    return volumes[keep], left_out


def covariate_columns(participants: pd.DataFrame, covariates: list[str], reference: dict):
    """Covariate columns measured from their reference values, and those values.

    Numeric covariates are centred at the reference (default: the participants' mean), text
    ones become dummies against the reference level (default: the first level sorted), so the
    group rates are the rates of a subject at the reference values.
    """
    columns, used = {}, {}
    for name in covariates:
        values = participants[name]
        numeric = pd.to_numeric(values, errors="coerce")
        if numeric.notna().sum() == values.notna().sum():
            used[name] = float(reference.get(name, numeric.mean()))
            columns[name] = numeric - used[name]
        else:
            levels = sorted(values.dropna().astype(str).unique())
            used[name] = str(reference.get(name, levels[0]))
            if used[name] not in levels:
                raise InputError("config", f"covariate_reference: '{used[name]}' is not a value of '{name}'")
            for level in levels:
                if level != used[name]:
                    columns[f"{name}[{level}]"] = (
                        (values.astype(str) == level).astype(float).where(values.notna())
                    )
    return pd.DataFrame(columns, index=participants.index), used
