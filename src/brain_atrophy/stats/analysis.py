"""The group step from end to end: the subjects' volume tables joined with each session's time
and acquisition, the cohort assembled (participants, exclusions, window, ICV), then the model
of :mod:`brain_atrophy.stats.group`, and what the run did, for analysis.json."""

from __future__ import annotations

import logging

import pandas as pd

from ..errors import InputError
from ..inputs.acquisitions import DEFAULT_KEYS
from ..tables import read_frame, read_frames
from . import cohort
from .columns import CHANGE_MEASURES, LABELS, METHOD, measure_rows, with_method
from .group import Settings, group_rates, model_rates, rates_by_measure
from .icv_drift import ICV_DRIFT_COLUMNS, drift_warning, icv_drift

log = logging.getLogger(__name__)


def analyse(
    volume_tables,
    participants_path,
    regions: list[str],
    settings: Settings,
    segmentation_dir="segmentation_dir",
    error_tables=(),
    exclusions=(),
    session_sources=None,
    time_setting=None,
    keep_going: bool = False,
    bids_dir=None,
    acquisition_keys=None,
    acquisition_sources=None,
    acquisition_layouts=None,
):
    """All group-level tables from the per-subject volume tables (and the error records of
    subjects left out under --keep-going): each session's time (``session_sources``, see
    :func:`cohort.subject_sessions`) and acquisition (from ``bids_dir``) joined to its volumes,
    then the model."""
    if not volume_tables:
        raise InputError(
            segmentation_dir, "no usable label images (sub-<label>/ses-<label>/anat/*_dseg.nii[.gz])"
        )
    measured = with_method(read_frames(volume_tables))
    check_measure(measured, settings.change_measure, volume_tables)
    volumes, timeless = cohort.assemble_sessions(measured, session_sources or {}, time_setting, keep_going)
    if volumes.empty:
        raise InputError(segmentation_dir, "no subject has both label images and session times")
    acquisitions = cohort.acquisitions_table(
        bids_dir or "", volumes, acquisition_keys or DEFAULT_KEYS, acquisition_sources, acquisition_layouts
    )
    volumes = volumes.merge(acquisitions[["participant_id", "session_id", "scanner"]], how="left")
    participants = cohort.read_participants(
        participants_path, [c for c in settings.all_covariates if c != cohort.ICV_COVARIATE]
    )
    icv_source = None
    if cohort.ICV_COVARIATE in settings.all_covariates:
        icv_source = "participants.tsv icv"
        if cohort.ICV_COVARIATE not in participants.columns:
            icv, icv_source = cohort.baseline_icv(measure_rows(volumes, settings.change_measure))
            participants[cohort.ICV_COVARIATE] = icv.reindex(participants.index)
    # row by row: a Jacobian row's labelled volume is the baseline's scaled by the mean Jacobian
    icv, outcome_icv_source = cohort.session_icv(volumes)
    if settings.outcome == "icv_fraction":
        volumes = volumes.assign(icv_fraction=volumes["volume_mm3"] / icv)
    analysed, excluded_by_config = cohort.apply_exclusions(volumes, exclusions)
    # every model and check below sees the chosen measure's rows only
    chosen = measure_rows(analysed, settings.change_measure)
    group_of = participants["group"]
    windowed, warnings = window(chosen, group_of, settings)
    tables = model_rates(windowed, participants, regions, settings, participants_path)
    tables["rates_by_measure"], comparison = compare_measures(
        analysed, windowed, tables, participants, regions, settings, participants_path
    )
    drift = icv_drift(*session_rows(chosen, icv), source=outcome_icv_source, level=settings.level)
    warnings += [w for w in [drift_warning(drift)] if w]
    for warning in warnings:
        log.warning("%s", warning)
    tables["icv_drift"] = pd.DataFrame([drift], columns=ICV_DRIFT_COLUMNS)
    left_out = left_out_rows(
        error_tables, timeless, excluded_by_config, tables["description"]["excluded_subjects"]
    )
    tables["volumes"] = volumes.assign(
        group=volumes["participant_id"].map(participants["group"]),
        in_window=session_keys(volumes).isin(session_keys(windowed)),
        excluded=~volumes.index.isin(analysed.index),
    )[VOLUME_TABLE_COLUMNS + (["icv_fraction"] if settings.outcome == "icv_fraction" else [])]
    tables["acquisitions"] = acquisitions
    tables["excluded"] = pd.DataFrame(left_out, columns=EXCLUDED_COLUMNS)
    tables["description"] = describe_run(tables["description"], left_out, icv_source, volumes, windowed)
    tables["description"]["window"]["sessions_by_group"] = cohort.window_summary(chosen, windowed, group_of)
    tables["description"]["measure_comparison"] = comparison
    if settings.outcome == "icv_fraction":
        tables["description"]["outcome_icv_source"] = outcome_icv_source
    tables["description"]["icv_drift"] = drift
    tables["description"]["warnings"] = warnings
    return tables


def window(analysed: pd.DataFrame, group_of: pd.Series, settings: Settings) -> tuple[pd.DataFrame, list[str]]:
    """The sessions in the analysis window (config ``window``, for ``window.groups`` only when
    given), and the warnings about its design; a window that leaves nothing to model is an
    InputError."""
    present = sorted(set(group_of.reindex(analysed["participant_id"].unique()).dropna()))
    groups = present if settings.window_groups is None else list(settings.window_groups)
    unknown = [g for g in groups if g not in present]
    if unknown:
        raise InputError("config", f"window.groups: no measured subject is in group(s) {', '.join(unknown)}")
    windowed = cohort.apply_window(
        analysed,
        settings.window_start_weeks,
        settings.window_end_weeks,
        settings.rebaseline,
        None if settings.window_groups is None else groups,
        group_of,
    )
    if windowed.empty:
        raise InputError("config", "the analysis window and exclusions leave no sessions")
    errors, warnings = cohort.window_check(
        analysed, windowed, groups, group_of, settings.window_start_weeks, settings.reference_group
    )
    if errors:
        raise InputError("config", "; ".join(errors))
    return windowed, warnings


def check_measure(measured: pd.DataFrame, measure: str, volume_tables) -> None:
    """The subjects' volume tables must hold rows of the configured change measure (tables
    written under another ``change_measure`` are stale: an InputError naming one)."""
    if measure not in CHANGE_MEASURES:
        raise InputError(
            "config", f"change_measure: unknown '{measure}' (one of {', '.join(CHANGE_MEASURES)})"
        )
    lacking = set(measured["participant_id"]) - set(
        measured.loc[measured[METHOD] == measure, "participant_id"]
    )
    if lacking:
        subject = sorted(lacking)[0]
        table = next((t for t in volume_tables if subject in str(t)), subject)
        found = ", ".join(sorted(measured.loc[measured["participant_id"] == subject, METHOD].unique()))
        raise InputError(
            table,
            f"no '{measure}' volumes (change_measure: {measure}) for {len(lacking)} subject(s), e.g. "
            f"{subject}, measured by: {found}; rerun the subjects' jobs",
        )


def session_keys(volumes: pd.DataFrame) -> pd.MultiIndex:
    """Each row's (participant_id, session_id)."""
    return pd.MultiIndex.from_frame(volumes[["participant_id", "session_id"]])


def compare_measures(
    analysed: pd.DataFrame,
    windowed: pd.DataFrame,
    tables: dict,
    participants: pd.DataFrame,
    regions: list[str],
    settings: Settings,
    participants_path="participants.tsv",
) -> tuple[pd.DataFrame, dict]:
    """``rates_by_measure.tsv`` and what analysis.json says of it: the modelled measure's group
    rates and, when it is Jacobian integration and every session the model saw also has label
    counts (label images at every visit), the label counts of the same sessions (their years
    as the window left them) by the same model."""
    measures = {settings.change_measure: tables["rates_by_group"]}
    comparison = {"measures": [settings.change_measure], "reason": None}
    if settings.change_measure != LABELS:
        modelled = windowed[
            ~windowed["participant_id"].isin(list(tables["description"]["excluded_subjects"]))
        ]
        sessions = modelled[["participant_id", "session_id", "years"]].drop_duplicates(
            ["participant_id", "session_id"]
        )
        labels = measure_rows(analysed, LABELS)
        missing = ~session_keys(sessions).isin(session_keys(labels))
        if missing.any():
            first = sessions[missing].iloc[0]
            comparison["reason"] = (
                f"{int(missing.sum())} of {len(sessions)} modelled sessions have no label image "
                f"(e.g. {first['participant_id']} {first['session_id']})"
            )
            log.info("label counts not modelled for comparison: %s", comparison["reason"])
        else:
            log.info("the label counts of the same sessions, by the same model, for comparison")
            same = labels.drop(columns="years").merge(sessions, on=["participant_id", "session_id"])
            measures[LABELS] = group_rates(same, participants, regions, settings, participants_path)
            comparison["measures"].append(LABELS)
    return rates_by_measure(measures), comparison


def session_rows(volumes: pd.DataFrame, icv: pd.Series) -> tuple[pd.DataFrame, pd.Series]:
    """One row per session of ``volumes`` (participant_id, years) and its ICV (``icv`` may cover
    more rows: the volumes before exclusions)."""
    first = ~volumes.duplicated(["participant_id", "session_id"])
    return volumes.loc[first, ["participant_id", "years"]], icv.reindex(volumes.index)[first]


EXCLUDED_COLUMNS = ["participant_id", "session_id", "kind", "reason"]


def left_out_rows(
    error_tables, timeless: list[dict], by_config: list[dict], missing_covariate: dict
) -> list[dict]:
    """Every subject or session the analysis left out, and why (``group/excluded.tsv`` and
    analysis.json's ``left_out``): subjects whose inputs were bad (their error records, under
    --keep-going), subjects without session times, what the config excludes, and subjects
    lacking a covariate ({participant: reason})."""
    rows = [
        {
            "participant_id": r.participant_id,
            "session_id": "",
            "kind": "input error",
            "reason": f"{r.file}: {r.fault}",
        }
        for table in error_tables
        for r in read_frame(table).itertuples()
    ]
    rows += timeless + by_config
    rows += [
        {"participant_id": subject, "session_id": "", "kind": "missing covariate", "reason": reason}
        for subject, reason in missing_covariate.items()
    ]
    return rows


def describe_run(model: dict, left_out: list[dict], icv_source, volumes, windowed) -> dict:
    """analysis.json: the model's description, what was left out, where the ICV and each
    session's time came from (sessions.tsv acq_time, scans.tsv acq_time, an age), and how many
    sessions the window kept."""
    return model | {
        "left_out": left_out,
        "icv_source": icv_source,
        "time_sources": sorted(volumes["time_source"].dropna().unique()),
        "n_sessions_in_window": int(windowed[["participant_id", "session_id"]].drop_duplicates().shape[0]),
    }


VOLUME_TABLE_COLUMNS = [
    "participant_id", "session_id", "group", "acq_time", "years", "region", "method", "volume_mm3",
    "n_voxels", "labelled_mm3", "voxel_mm3", "session_icv_mm3", "time_source", "scanner", "in_window",
    "excluded",
]  # fmt: skip
