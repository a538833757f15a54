"""QC table: per session, flags for implausible change, absent or tiny regions; per subject,
follow-up; with change_measure: jacobian, each follow-up's registration flags."""

import pandas as pd

from brain_atrophy import paths
from brain_atrophy.scripting import run_script
from brain_atrophy.stats.columns import JACOBIAN, measure_rows
from brain_atrophy.stats.qc import add_registration_flags, session_flags
from brain_atrophy.tables import read_frame, write_frame


def registration_tables(smk) -> pd.DataFrame:
    """Every subject's registration table (a subject left out under --keep-going has none)."""
    tables = [
        paths.subject_outputs(folder, subject)["registration"]
        for subject, folder in zip(smk.params.subjects, smk.input.subjects, strict=True)
    ]
    frames = [read_frame(table) for table in tables if table.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def main(smk):
    # the modelled measure's rows: with both in the table, each session would count twice
    volumes = measure_rows(read_frame(smk.input.volumes), smk.params.change_measure)
    table = session_flags(volumes, smk.params.max_change_pct_per_year, smk.params.min_voxels)
    if smk.params.change_measure == JACOBIAN:
        table = add_registration_flags(table, registration_tables(smk))
    write_frame(table, smk.output[0])


run_script(snakemake, main)
