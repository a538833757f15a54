"""The methods paragraph (group/methods.md) and the configuration used, for the report."""

import json
from pathlib import Path

import yaml

from brain_atrophy.inputs.regions import load_regions
from brain_atrophy.report.methods import methods_text, versions
from brain_atrophy.scripting import run_script
from brain_atrophy.tables import read_frame


def main(smk):
    description = json.loads(Path(smk.input.description).read_text())
    text = methods_text(
        description,
        read_frame(smk.input.rates_by_group),
        load_regions(smk.input.regions, smk.input.get("label_table"), smk.params.tissues),
        versions(),
    )
    Path(smk.output.methods).write_text(text)
    Path(smk.output.config).write_text(yaml.safe_dump(dict(smk.config), sort_keys=False))


run_script(snakemake, main)
