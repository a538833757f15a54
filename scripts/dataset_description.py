"""Write the BIDS-Derivatives files at the output root: dataset_description.json, .bidsignore
and the top-level sidecars describing the volume and rate tables' columns."""

from brain_atrophy import __version__
from brain_atrophy.report.derivatives import write_dataset_files
from brain_atrophy.scripting import run_script


def main(smk):
    write_dataset_files(
        description_path=smk.output.description,
        bidsignore_path=smk.output.bidsignore,
        volumes_path=smk.output.volumes_sidecar,
        version=__version__,
        code_url=smk.params.code_url,
        sources=smk.params.sources,
        # change_measure: jacobian only: the columns of every *_registration.tsv
        registration_path=smk.output.get("registration_sidecar"),
    )


run_script(snakemake, main)
