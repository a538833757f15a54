"""Per-subject job: region volumes of every session, then the subject's two-stage rates."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the package ships with the workflow

from brain_atrophy.scripting import run_script  # noqa: E402
from brain_atrophy.subject import process_subject  # noqa: E402


def main(smk):
    process_subject(
        subject=smk.wildcards.subject,
        images=dict(zip(smk.params.sessions, smk.input.images, strict=True)),
        sessions_tsv=smk.input.sessions,
        region_tsv=smk.input.regions,
        subject_dir=smk.output[0],
    )


run_script(snakemake, main)
