"""Group job: gather the subjects' tables, fit the mixed model per region, write the group tables."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the package ships with the workflow

from brain_atrophy.group import analyse, write_tsv  # noqa: E402
from brain_atrophy.regions import read_region_table  # noqa: E402
from brain_atrophy.scripting import run_script  # noqa: E402
from brain_atrophy.subject import subject_paths  # noqa: E402


def main(smk):
    subjects = [(Path(d), Path(d).name[len("sub-") :]) for d in smk.input.subjects]
    tables = [subject_paths(d, label, []) for d, label in subjects]
    volumes, subject_rates, rates, differences = analyse(
        volume_tables=[t["volumes"] for t in tables],
        rate_tables=[t["rates"] for t in tables],
        participants_path=smk.input.participants,
        regions=list(read_region_table(smk.input.regions)),
        reference_group=smk.params.reference_group,
        covariates=smk.params.covariates,
        level=smk.params.confidence_level,
        segmentation_dir=smk.params.segmentation_dir,
    )
    write_tsv(volumes, smk.output.volumes)
    write_tsv(subject_rates, smk.output.subject_rates)
    write_tsv(rates, smk.output.rates_by_group)
    write_tsv(differences, smk.output.group_differences)


run_script(snakemake, main)
