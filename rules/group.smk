# Group stage: the mixed model per region over every subject, and the dataset description.


rule group_statistics:
    input:
        unpack(region_inputs),
        subjects=expand(paths.subject_output(OUT, "{subject}"), subject=SUBJECTS),
        participants=f"{BIDS_DIR}/participants.tsv",
        session_metadata=lambda wildcards: session_metadata_files(),
    output:
        volumes=f"{OUT}/group/volumes.tsv",
        subject_rates=report(
            f"{OUT}/group/subject_rates.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        rates_by_group=report(
            f"{OUT}/group/rates_by_group.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        group_differences=report(
            f"{OUT}/group/group_differences.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        pairwise_differences=report(
            f"{OUT}/group/pairwise_differences.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        sensitivity=report(
            f"{OUT}/group/sensitivity.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        power=report(
            f"{OUT}/group/power.tsv",
            caption="../report/tables.rst",
            category="Tables",
        ),
        acquisitions=report(
            f"{OUT}/group/acquisitions.tsv",
            caption="../report/acquisitions.rst",
            category="Scanner changes",
        ),
        scanner_effects=report(
            f"{OUT}/group/scanner_effects.tsv",
            caption="../report/scanner_effects.rst",
            category="Scanner changes",
        ),
        subject_effects=report(
            f"{OUT}/group/subject_effects.tsv",
            caption="../report/subject_effects.rst",
            category="Tables",
        ),
        description=f"{OUT}/group/analysis.json",
        excluded=report(
            f"{OUT}/group/excluded.tsv",
            caption="../report/tables.rst",
            category="Quality control",
        ),
    log:
        f"{OUT}/logs/group_statistics.log",
    conda:
        "../envs/atrophy.yaml"
    params:
        reference_group=config["reference_group"],
        covariates=config["covariates"],
        slope_covariates=config["slope_covariates"],
        covariate_reference=config["covariate_reference"],
        confidence_level=config["confidence_level"],
        correction=config["correction"],
        window=config["window"],
        power=config["power"],
        exclude=config["exclude"],
        segmentation_dir=config["segmentation_dir"],
        tissues=TISSUES,
        bids_dir=lambda wildcards, input: os.path.dirname(input.participants),
        time=config.get("time"),
        time_tables=lambda wildcards: time_tables(),
        label_names=lambda wildcards: label_image_names(),
        acquisition_keys=config["acquisition_keys"],
        scanner_adjustment=config["scanner_adjustment"],
        min_spanning_subjects=config["scanner_min_spanning_subjects"],
        subject_effects=config["subject_effects"],
    script:
        "../scripts/group_statistics.py"


rule dataset_description:
    output:
        description=f"{OUT}/dataset_description.json",
        # BIDS has no names for the volume and rate tables, figures, logs or group outputs
        bidsignore=f"{OUT}/.bidsignore",
        # one sidecar, at the top: it applies to every *_volumes.tsv below
        volumes_sidecar=f"{OUT}/volumes.json",
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


rule check_inputs:
    input:
        excluded=rules.group_statistics.output.excluded,
    output:
        f"{OUT}/group/input_check.txt",
    log:
        f"{OUT}/logs/check_inputs.log",
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    script:
        "../scripts/check_inputs.py"
