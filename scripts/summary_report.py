"""The study's report page (report.html at the output dataset's root): the answer first."""

import json
import os
from pathlib import Path

from brain_atrophy import paths
from brain_atrophy.report.page import report_page
from brain_atrophy.scripting import run_script
from brain_atrophy.tables import read_frame

TABLES = [
    "rates_by_group", "group_differences", "subject_effects", "scanner_effects", "qc", "volumes",
    "rates_by_measure",
]  # fmt: skip


def main(smk):
    tables = {name: read_frame(smk.input[name]) for name in TABLES}
    page_dir = Path(smk.output[0]).parent
    mosaics = {}
    for subject, directory in zip(smk.params.subjects, smk.input.subjects, strict=True):
        mosaic = paths.subject_outputs(directory, subject)["mosaic"]
        if mosaic.is_file():
            mosaics[paths.participant_id(subject)] = os.path.relpath(mosaic, page_dir)
    description = json.loads(Path(smk.input.description).read_text())
    page = report_page(tables, description, smk.input.forest_rates, mosaics)
    Path(smk.output[0]).write_text(page, encoding="utf-8")


run_script(snakemake, main)
