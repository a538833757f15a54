# Group stage: the mixed model per region over every subject, and the dataset description.


rule group_statistics:
    input:
        unpack(region_inputs),
        subjects=expand(paths.subject_output(OUT, "{subject}"), subject=SUBJECTS),
        participants=f"{BIDS_DIR}/participants.tsv",
        session_metadata=lambda wildcards: metadata().files,
    output:
        volumes=paths.group_table(OUT, "volumes"),
        subject_rates=report(
            paths.group_table(OUT, "subject_rates"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        rates_by_group=report(
            paths.group_table(OUT, "rates_by_group"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        group_differences=report(
            paths.group_table(OUT, "group_differences"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        pairwise_differences=report(
            paths.group_table(OUT, "pairwise_differences"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        sensitivity=report(
            paths.group_table(OUT, "sensitivity"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        power=report(
            paths.group_table(OUT, "power"),
            caption="../report/tables.rst",
            category="Tables",
        ),
        acquisitions=report(
            paths.group_table(OUT, "acquisitions"),
            caption="../report/acquisitions.rst",
            category="Scanner changes",
        ),
        scanner_effects=report(
            paths.group_table(OUT, "scanner_effects"),
            caption="../report/scanner_effects.rst",
            category="Scanner changes",
        ),
        subject_effects=report(
            paths.group_table(OUT, "subject_effects"),
            caption="../report/subject_effects.rst",
            category="Tables",
        ),
        rates_by_measure=report(
            paths.group_table(OUT, "rates_by_measure"),
            caption="../report/rates_by_measure.rst",
            category="Tables",
        ),
        icv_drift=report(
            paths.group_table(OUT, "icv_drift"),
            caption="../report/tables.rst",
            category="Quality control",
        ),
        description=paths.group_file(OUT, "analysis.json"),
        excluded=report(
            paths.group_table(OUT, "excluded"),
            caption="../report/tables.rst",
            category="Quality control",
        ),
    log:
        paths.job_log(OUT, "group_statistics"),
    conda:
        "../envs/atrophy.yaml"
    params:
        subjects=SUBJECTS,
        reference_group=config["reference_group"],
        covariates=config["covariates"],
        slope_covariates=config["slope_covariates"],
        covariate_reference=config["covariate_reference"],
        confidence_level=config["confidence_level"],
        correction=config["correction"],
        window=config["window"],
        outcome=config["outcome"],
        power=config["power"],
        exclude=config["exclude"],
        segmentation_dir=config.get("segmentation_dir") or config["bids_dir"],
        tissues=TISSUES,
        bids_dir=lambda wildcards, input: os.path.dirname(input.participants),
        time=config.get("time"),
        time_tables=lambda wildcards: metadata().time_tables,
        layouts=lambda wildcards: metadata().layouts,
        label_names=lambda wildcards: image_names(session_images()),
        change_measure=CHANGE_MEASURE,
        atlas_registration=ATLAS_REGISTRATION or {},
        acquisition_keys=config["acquisition_keys"],
        scanner_adjustment=config["scanner_adjustment"],
        min_spanning_subjects=config["scanner_min_spanning_subjects"],
        subject_effects=config["subject_effects"],
    script:
        "../scripts/group_statistics.py"


rule dataset_description:
    output:
        **(
            {
                "registration_sidecar": paths.dataset_file(
                    OUT, paths.REGISTRATION_SIDECAR
                )
            }
            if CHANGE_MEASURE == "jacobian"
            else {}
        ),
        description=paths.dataset_file(OUT, paths.DATASET_DESCRIPTION),
        # BIDS has no names for the volume and rate tables, figures, logs or group outputs
        bidsignore=paths.dataset_file(OUT, paths.BIDSIGNORE),
        # one sidecar, at the top: it applies to every *_volumes.tsv below
        volumes_sidecar=paths.dataset_file(OUT, paths.VOLUMES_SIDECAR),
        # and one for every *_registration.tsv (change_measure: jacobian)
    log:
        paths.job_log(OUT, "dataset_description"),
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        code_url=config["code_url"],
        sources=[
            config["bids_dir"],
            config.get("segmentation_dir") or (ATLAS_REGISTRATION or {}).get("labels"),
        ],
    script:
        "../scripts/dataset_description.py"


rule check_inputs:
    input:
        excluded=rules.group_statistics.output.excluded,
    output:
        paths.group_file(OUT, "input_check.txt"),
    log:
        paths.job_log(OUT, "check_inputs"),
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    script:
        "../scripts/check_inputs.py"
