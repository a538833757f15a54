"""Group job: gather the subjects' tables, fit the mixed model per region, write the group tables."""

import json
import os
from pathlib import Path

from brain_atrophy import paths
from brain_atrophy.inputs.names import source_t1w_stem
from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.scripting import console, run_script
from brain_atrophy.stats.analysis import analyse
from brain_atrophy.stats.group import Settings
from brain_atrophy.tables import write_frame

TABLES = [
    "volumes", "subject_rates", "rates_by_group", "group_differences", "pairwise_differences",
    "sensitivity", "power", "excluded", "acquisitions", "scanner_effects", "subject_effects", "icv_drift",
    "rates_by_measure",
]  # fmt: skip


def settings_from(params) -> Settings:
    window, study = params.window, params.power
    return Settings(
        reference_group=params.reference_group,
        covariates=tuple(params.covariates),
        slope_covariates=tuple(params.slope_covariates),
        covariate_reference=dict(params.covariate_reference),
        level=params.confidence_level,
        correction=params.correction,
        window_start_weeks=window["start_weeks"],
        window_end_weeks=window.get("end_weeks"),
        rebaseline=window["rebaseline"],
        window_groups=tuple(window["groups"]) if window.get("groups") is not None else None,
        outcome=params.outcome,
        change_measure=params.change_measure,
        power_alpha=study["alpha"],
        power_target=study["power"],
        power_reductions=tuple(study["reductions"]),
        power_schedule_weeks=tuple(study["schedule_weeks"]),
        # YAML reads `true` / `false` as booleans; the schema also allows "auto"
        scanner_adjustment=str(params.scanner_adjustment).lower(),
        min_spanning_subjects=params.min_spanning_subjects,
        reference_percentile=params.subject_effects["reference_percentile"],
        cutoffs=dict(params.subject_effects["cutoffs"]),
    )


def session_sources(time_tables: dict, label_names: dict) -> dict:
    """Per subject, where its sessions' times may be kept, and the raw T1w each label image
    came from (chooses the scans.tsv row)."""
    return {
        subject: {
            "sessions_tsv": tables["sessions_tsv"],
            "scans": tables["scans"],
            "source_t1w": {s: source_t1w_stem(name) for s, name in label_names[subject].items()},
        }
        for subject, tables in time_tables.items()
    }


def main(smk):
    subjects = [
        paths.subject_outputs(folder, subject)
        for subject, folder in zip(smk.params.subjects, smk.input.subjects, strict=True)
    ]
    tables = analyse(
        volume_tables=[p["volumes"] for p in subjects if p["volumes"].is_file()],
        error_tables=[p["errors"] for p in subjects if not p["volumes"].is_file()],
        exclusions=smk.params.exclude,
        participants_path=smk.input.participants,
        regions=list(load_regions(smk.input.regions, smk.input.get("label_table"), smk.params.tissues)),
        settings=settings_from(smk.params),
        segmentation_dir=smk.params.segmentation_dir,
        session_sources=session_sources(smk.params.time_tables, smk.params.label_names),
        time_setting=smk.params.time,
        keep_going=os.environ.get("BRAIN_ATROPHY_KEEP_GOING") == "1",
        bids_dir=smk.params.bids_dir,
        acquisition_keys=smk.params.acquisition_keys,
        acquisition_sources={
            (subject, session): name
            for subject, names in smk.params.label_names.items()
            for session, name in names.items()
        },
        acquisition_layouts=smk.params.layouts,
    )
    if smk.params.atlas_registration:
        # where the baseline labels came from (atlas_registration): the methods and report say it
        tables["description"]["atlas_registration"] = dict(smk.params.atlas_registration)
    for name in TABLES:
        write_frame(tables[name], smk.output[name])
    Path(smk.output.description).write_text(json.dumps(tables["description"], indent=2) + "\n")
    for warning in tables["description"]["warnings"]:
        console(f"brain-atrophy: WARNING: {warning}")
    scanners = tables["description"]["scanner_adjustment"]
    if scanners["adjusted"] is False and len(scanners["acquisitions"]) > 1 and scanners["mode"] != "false":
        # loud: rates may carry scanner steps
        console(f"brain-atrophy: WARNING: scanner steps not modelled: {scanners['reason']}")


run_script(snakemake, main)
