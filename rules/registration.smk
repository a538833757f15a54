# change_measure: jacobian — one job per follow-up: its T1w registered to the subject's baseline
# T1w (brain_atrophy.register). A job per (subject, session) pair caches each registration on
# its own: adding a session registers that session only, and changing the region table
# re-integrates (subject_volumes) without registering again. Like the subject job, a process
# of its own from shell:, the same command under every executor; its threads reach it as
# OMP_NUM_THREADS, which Snakemake sets to the rule's threads, so they are not in the command.


rule register_session:
    input:
        unpack(pair_inputs),
    output:
        directory(paths.registration_output(OUT, "{subject}", "{session}")),
    log:
        paths.pair_log(OUT, "register_session", "{subject}", "{session}"),
    conda:
        "../envs/atrophy.yaml"
    threads: config["registration"]["threads"]
    resources:
        mem_mb=config["registration"]["mem_mb"],
        runtime=config["registration"]["runtime"],
    params:
        src=PACKAGE_ROOT,
        settings=json.dumps(REGISTRATION_SETTINGS, sort_keys=True),
    shell:
        'PYTHONPATH={params.src:q}"${{PYTHONPATH:+:$PYTHONPATH}}" python '
        "-m brain_atrophy.register.job --subject {wildcards.subject:q} --session {wildcards.session:q} "
        "--baseline-t1w {input.baseline_t1w:q} --followup-t1w {input.followup_t1w:q} "
        "--labels {input.labels:q} --settings {params.settings:q} --output {output:q} --log {log:q}"
