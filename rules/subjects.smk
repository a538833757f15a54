# Per-subject stage: one job per subject (not per session) measures every session's regions
# and draws its QC mosaic (each image is decoded once). Neither participants.tsv nor the
# sessions', scans' or sidecars' metadata are inputs: editing a group, a date or a scanner
# never recomputes volumes.
#
# Every executor (local, SLURM, --sdm conda/apptainer) runs the same command: a Python process
# per subject, started from shell:, not script: (a Snakemake script's preamble, importing
# Snakemake and unpickling the job, costs more than measuring a subject). The command and its
# params are the same under every executor, so switching executors reruns no subject.
# PYTHONPATH is set in the command because --sdm conda drops it from the environment.
# glibc's malloc keeps freed blocks of up to 256 MiB for reuse (instead of returning each
# decoded image to the kernel and faulting the next one in page by page): a subject job then
# takes ~6 % less time, a fifth less of it in the kernel (docs/performance.md). Other C
# libraries ignore the variables.


rule subject_volumes:
    input:
        unpack(subject_inputs),
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
        src=PACKAGE_ROOT,
        arguments=subject_job_arguments,
    shell:
        "MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=268435456 "
        'PYTHONPATH={params.src:q}"${{PYTHONPATH:+:$PYTHONPATH}}" python '
        "-m brain_atrophy.measure.job {params.arguments} --output {output:q} --log {log:q}"
