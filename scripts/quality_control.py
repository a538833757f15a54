"""QC table: per session, flags for implausible change, absent or tiny regions; per subject, follow-up."""

from brain_atrophy.scripting import run_script
from brain_atrophy.stats.qc import session_flags
from brain_atrophy.tables import read_frame, write_frame


def main(smk):
    table = session_flags(
        read_frame(smk.input.volumes), smk.params.max_change_pct_per_year, smk.params.min_voxels
    )
    write_frame(table, smk.output[0])


run_script(snakemake, main)
