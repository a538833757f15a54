"""Write the BIDS-Derivatives dataset_description.json of the output directory."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent / "src"))  # the package ships with the workflow

from brain_atrophy import __version__  # noqa: E402
from brain_atrophy.scripting import run_script  # noqa: E402


def main(smk):
    description = {
        "Name": "brain-atrophy: regional volumes and atrophy rates",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": "brain-atrophy", "Version": __version__, "CodeURL": smk.params.code_url}],
        "SourceDatasets": [{"URL": Path(p).resolve().as_uri()} for p in smk.params.sources],
    }
    Path(smk.output[0]).write_text(json.dumps(description, indent=2) + "\n")


run_script(snakemake, main)
