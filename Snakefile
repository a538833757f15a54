# brain-atrophy: regional brain volumes per session, per-subject atrophy rates and
# mixed-model group comparisons, from BIDS label images. See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/scheduling.smk"
include: "rules/registration.smk"
include: "rules/subjects.smk"
include: "rules/group.smk"
include: "rules/report.smk"


rule all:
    default_target: True
    input:
        final_outputs(),
