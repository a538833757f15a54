# Group stage: the mixed model per region over every subject, and the dataset description.


rule group_statistics:
    input:
        subjects=expand(f"{OUT}/sub-{{subject}}", subject=SUBJECTS),
        participants=f"{BIDS_DIR}/participants.tsv",
        regions=REGION_TABLE,
    output:
        volumes=f"{OUT}/group/volumes.tsv",
        subject_rates=f"{OUT}/group/subject_rates.tsv",
        rates_by_group=f"{OUT}/group/rates_by_group.tsv",
        group_differences=f"{OUT}/group/group_differences.tsv",
    log:
        f"{OUT}/logs/group_statistics.log",
    conda:
        "../envs/atrophy.yaml"
    params:
        reference_group=config["reference_group"],
        covariates=config["covariates"],
        confidence_level=config["confidence_level"],
        segmentation_dir=config["segmentation_dir"],
    script:
        "../scripts/group_statistics.py"


rule dataset_description:
    output:
        f"{OUT}/dataset_description.json",
    log:
        f"{OUT}/logs/dataset_description.log",
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        code_url=config["code_url"],
        sources=[config["bids_dir"], config["segmentation_dir"]],
    script:
        "../scripts/dataset_description.py"
