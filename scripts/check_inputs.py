"""The run's last check: fail (non-zero exit) when subjects were left out for bad inputs.

Under --keep-going the group results for everyone else are already written; this rule keeps
the failure visible instead of letting a partial cohort pass as complete.
"""

from pathlib import Path

from brain_atrophy.errors import InputError
from brain_atrophy.scripting import run_script
from brain_atrophy.tables import read_frame


def main(smk):
    excluded = read_frame(smk.input.excluded)
    bad = excluded[excluded["kind"] == "input error"]
    if len(bad):
        lines = "; ".join(f"{r.participant_id}: {r.reason}" for r in bad.itertuples())
        raise InputError(smk.input.excluded, f"{len(bad)} subject(s) left out for bad inputs: {lines}")
    Path(smk.output[0]).write_text("every subject's inputs were readable\n")


run_script(snakemake, main)
