# Per-subject stage: one job per subject (not per session) measures every session's regions
# and draws its QC mosaic (each image is decoded once). Neither participants.tsv nor the
# sessions', scans' or sidecars' metadata are inputs: editing a group, a date or a scanner
# never recomputes volumes.


rule subject_volumes:
    input:
        unpack(region_inputs),
        unpack(atlas_input),
        images=subject_images,
        t1w=subject_t1w_images,
    output:
        report(
            # a folder: the per-session tables depend on which sessions the subject has, which
            # a rule's outputs cannot (paths.subject_outputs names every file in it)
            directory(paths.subject_output(OUT, "{subject}")),
            patterns=paths.SUBJECT_REPORT_PATTERNS,
            caption="../report/qc_subject.rst",
            category="QC mosaics",
        ),
    log:
        paths.subject_log(OUT, "subject_volumes", "{subject}"),
    group:
        "subjects"
    conda:
        "../envs/atrophy.yaml"
    params:
        arguments=subject_job_arguments,
    # shell:, not script: a Snakemake script's preamble (import Snakemake, unpickle the job)
    # costs more than measuring the subject (README, Speed). Under --sdm conda Snakemake drops
    # PYTHONPATH from the job's environment, hence the package's folder is added here.
    shell:
        'PYTHONPATH="$BRAIN_ATROPHY_SRC${{PYTHONPATH:+:$PYTHONPATH}}" "$BRAIN_ATROPHY_PYTHON" '
        "-m brain_atrophy.subject_job {params.arguments} --output {output:q} --log {log:q}"
