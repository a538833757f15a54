# Per-subject stage: one job per subject (not per session) measures every session's regions
# and draws its QC mosaic (each image is decoded once). Neither participants.tsv nor the
# sessions', scans' or sidecars' metadata are inputs: editing a group, a date or a scanner
# never recomputes volumes.
#
# The rule has two forms with the same inputs, outputs, log and parameters; which one is
# defined depends on where its jobs run (SUBJECTS_IN_SNAKEMAKE, rules/common.smk). Both run
# brain_atrophy.measure.job with the same arguments.

SUBJECT_FOLDER = report(
    # a folder: the per-session tables depend on which sessions the subject has, which a
    # rule's outputs cannot (paths.subject_outputs names every file in it)
    directory(paths.subject_output(OUT, "{subject}")),
    patterns=paths.SUBJECT_REPORT_PATTERNS,
    caption="../report/qc_subject.rst",
    category="QC mosaics",
)
SUBJECT_LOG = paths.subject_log(OUT, "subject_volumes", "{subject}")


if SUBJECTS_IN_SNAKEMAKE:

    # A local run: the job runs in one of Snakemake's job threads (--force-use-threads), in
    # this process, which imports the package and numpy once for the whole run.
    rule subject_volumes:
        input:
            unpack(subject_inputs),
        output:
            SUBJECT_FOLDER,
        log:
            SUBJECT_LOG,
        group:
            "subjects"
        params:
            arguments=subject_job_arguments,
        run:
            from brain_atrophy.measure.job import run_in_process

            # console lines through Snakemake's logger, whose lock keeps them whole lines
            run_in_process(
                shlex.split(params.arguments)
                + ["--output", output[0], "--log", log[0]],
                console=logger.error,
            )

else:

    # A cluster job, or --sdm conda/apptainer: a Python process of its own, started from
    # shell:, not script: (a Snakemake script's preamble, importing Snakemake and unpickling
    # the job, costs more than measuring the subject). Under --sdm conda Snakemake drops
    # PYTHONPATH from the job's environment, hence the package's folder is added here.
    rule subject_volumes:
        input:
            unpack(subject_inputs),
        output:
            SUBJECT_FOLDER,
        log:
            SUBJECT_LOG,
        group:
            "subjects"
        conda:
            "../envs/atrophy.yaml"
        params:
            arguments=subject_job_arguments,
        shell:
            'PYTHONPATH="$BRAIN_ATROPHY_SRC${{PYTHONPATH:+:$PYTHONPATH}}" "$BRAIN_ATROPHY_PYTHON" '
            "-m brain_atrophy.measure.job {params.arguments} --output {output:q} --log {log:q}"
