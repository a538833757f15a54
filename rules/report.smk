# Report stage: figures, QC table and mosaics, the methods paragraph. Every figure is wrapped in
# report() so that `snakemake --report report.html` collects it.


rule quality_control:
    input:
        volumes=rules.group_statistics.output.volumes,
        subjects=expand(paths.subject_output(OUT, "{subject}"), subject=SUBJECTS),
    output:
        report(
            paths.group_table(OUT, "qc"),
            caption="../report/qc_table.rst",
            category="Quality control",
        ),
    log:
        paths.job_log(OUT, "quality_control"),
    # The page's path (QC and figures, then the page) goes first when the model ends; the
    # leaves (methods, the input check, the flagged mosaics) fill the other core.
    priority: 1
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        max_change_pct_per_year=config["qc"]["max_change_pct_per_year"],
        min_voxels=config["qc"]["min_voxels"],
        subjects=SUBJECTS,
        change_measure=CHANGE_MEASURE,
    script:
        "../scripts/quality_control.py"


rule figures:
    input:
        volumes=rules.group_statistics.output.volumes,
        subject_rates=rules.group_statistics.output.subject_rates,
        rates_by_group=rules.group_statistics.output.rates_by_group,
        pairwise_differences=rules.group_statistics.output.pairwise_differences,
        power=rules.group_statistics.output.power,
    output:
        trajectories=report(
            directory(paths.figure(OUT, "trajectories")),
            patterns=["{region}.png"],
            caption="../report/trajectories.rst",
            category="Trajectories",
        ),
        power=report(
            directory(paths.figure(OUT, "power")),
            patterns=["{region}.png"],
            caption="../report/power.rst",
            category="Power",
        ),
        forest_rates=report(
            paths.figure(OUT, "forest_rates.png"),
            caption="../report/forest_rates.rst",
            category="Rates",
        ),
        forest_differences=report(
            paths.figure(OUT, "forest_differences.png"),
            caption="../report/forest_differences.rst",
            category="Rates",
        ),
    log:
        paths.job_log(OUT, "figures"),
    priority: 1
    conda:
        "../envs/atrophy.yaml"
    script:
        "../scripts/figures.py"


rule qc_flagged:
    input:
        unpack(region_inputs),
        qc=rules.quality_control.output[0],
        # every image it may draw (only flagged sessions are read), so each is a tracked input
        images=lambda wildcards: all_images(LABEL_IMAGES, T1W_IMAGES),
    output:
        report(
            paths.figure(OUT, "qc_flagged.png"),
            caption="../report/qc_flagged.rst",
            category="Quality control",
        ),
    log:
        paths.job_log(OUT, "qc_flagged"),
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        images=LABEL_IMAGES,
        t1w=T1W_IMAGES,
        tissues=TISSUES,
        max_sessions=12,
    script:
        "../scripts/qc_flagged.py"


rule methods:
    input:
        unpack(region_inputs),
        description=rules.group_statistics.output.description,
        rates_by_group=rules.group_statistics.output.rates_by_group,
    output:
        methods=report(
            paths.group_file(OUT, "methods.md"),
            caption="../report/methods.rst",
            category="Methods",
        ),
        config=report(
            paths.group_file(OUT, "config_used.yaml"),
            caption="../report/methods.rst",
            category="Methods",
        ),
    log:
        paths.job_log(OUT, "methods"),
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        tissues=TISSUES,
    script:
        "../scripts/methods.py"


rule summary_report:
    input:
        rates_by_group=rules.group_statistics.output.rates_by_group,
        group_differences=rules.group_statistics.output.group_differences,
        subject_effects=rules.group_statistics.output.subject_effects,
        scanner_effects=rules.group_statistics.output.scanner_effects,
        volumes=rules.group_statistics.output.volumes,
        description=rules.group_statistics.output.description,
        qc=rules.quality_control.output[0],
        forest_rates=rules.figures.output.forest_rates,
        rates_by_measure=rules.group_statistics.output.rates_by_measure,
        subjects=expand(paths.subject_output(OUT, "{subject}"), subject=SUBJECTS),
    output:
        paths.dataset_file(OUT, paths.REPORT_PAGE),
    log:
        paths.job_log(OUT, "summary_report"),
    priority: 1
    localrule: True
    conda:
        "../envs/atrophy.yaml"
    params:
        subjects=SUBJECTS,
    script:
        "../scripts/summary_report.py"
