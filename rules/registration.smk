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
        labels=pair_mask_image,
    shell:
        'PYTHONPATH={params.src:q}"${{PYTHONPATH:+:$PYTHONPATH}}" python '
        "-m brain_atrophy.register.job --subject {wildcards.subject:q} --session {wildcards.session:q} "
        "--baseline-t1w {input.baseline_t1w:q} --followup-t1w {input.followup_t1w:q} "
        "--labels {params.labels:q} --settings {params.settings:q} --output {output:q} --log {log:q}"


# atlas_registration — one job per subject: the template registered to the baseline T1w. The
# atlas labels are carried over by the subject job, so that a new atlas (or label table, or
# interpolation) re-registers nothing, and a new follow-up leaves this job alone.


rule register_template:
    input:
        unpack(template_inputs),
    output:
        directory(paths.atlas_registration_output(OUT, "{subject}")),
    log:
        paths.subject_log(OUT, "register_template", "{subject}"),
    conda:
        "../envs/atrophy.yaml"
    threads: (config.get("atlas_registration") or {}).get("threads", 2)
    resources:
        mem_mb=(config.get("atlas_registration") or {}).get("mem_mb", 4000),
        runtime=(config.get("atlas_registration") or {}).get("runtime", 30),
    params:
        src=PACKAGE_ROOT,
        session=lambda wildcards: subject_session_labels(wildcards)[0],
        brain_mask=lambda wildcards, input: (
            f"--brain-mask {shlex.quote(input.brain_mask)}"
            if "brain_mask" in input.keys()
            else ""
        ),
        settings=json.dumps(TEMPLATE_SETTINGS, sort_keys=True),
    shell:
        'PYTHONPATH={params.src:q}"${{PYTHONPATH:+:$PYTHONPATH}}" python '
        "-m brain_atrophy.register.template_job --subject {wildcards.subject:q} "
        "--session {params.session:q} --t1w {input.t1w:q} --template {input.template:q} "
        "{params.brain_mask} --settings {params.settings:q} --output {output:q} --log {log:q}"
