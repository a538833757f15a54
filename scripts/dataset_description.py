"""Write the BIDS-Derivatives files at the output root: dataset_description.json, .bidsignore
and the top-level sidecars describing the volume and rate tables' columns."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the package ships with the workflow

from brain_atrophy import __version__  # noqa: E402
from brain_atrophy.derivatives import write_dataset_files  # noqa: E402
from brain_atrophy.scripting import run_script  # noqa: E402


def main(smk):
    write_dataset_files(
        description_path=smk.output.description,
        bidsignore_path=smk.output.bidsignore,
        volumes_path=smk.output.volumes_sidecar,
        version=__version__,
        code_url=smk.params.code_url,
        sources=smk.params.sources,
    )


run_script(snakemake, main)
