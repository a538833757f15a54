"""Per-subject job: region volumes of every session and the subject's QC mosaic."""

import os
import shutil

from brain_atrophy.errors import InputError
from brain_atrophy.scripting import console, run_script
from brain_atrophy.subject import process_subject, record_error


def session_images(smk):
    """{session: label image}, or in tissue-map mode {session: {tissue: map}}."""
    if not smk.params.tissues:
        return dict(zip(smk.params.sessions, smk.input.images, strict=True))
    images = {}
    for session, tissue, path in zip(
        smk.params.sessions, smk.params.image_tissues, smk.input.images, strict=True
    ):
        images.setdefault(session, {})[tissue] = path
    return images


def main(smk):
    try:
        process_subject(
            subject=smk.wildcards.subject,
            images=session_images(smk),
            region_tsv=smk.input.regions,
            label_tsv=smk.input.get("label_table"),
            t1w_images=dict(zip(smk.params.t1w_sessions, smk.input.t1w, strict=True)),
            tissues=smk.params.tissues,
            atlas=smk.input.get("atlas"),
            subject_dir=smk.output[0],
        )
    except InputError as err:
        if os.environ.get("BRAIN_ATROPHY_KEEP_GOING") != "1":
            raise
        shutil.rmtree(smk.output[0], ignore_errors=True)  # nothing partial next to the record
        record_error(smk.output[0], smk.wildcards.subject, err)
        console(f"brain-atrophy: ERROR (subject left out, --keep-going): {err}")


run_script(snakemake, main)
