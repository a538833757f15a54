# Per-subject stage: one job per subject (not per session) measures every session's regions,
# fits the subject's two-stage rates and draws its QC mosaic (each image is decoded once). participants.tsv is deliberately not an input, so
# editing a group or covariate never recomputes volumes.


rule subject_volumes:
    input:
        unpack(region_inputs),
        unpack(atlas_input),
        images=subject_images,
        t1w=subject_t1w_images,
        sessions=subject_sessions_table,
        scans=subject_scans_tables,
    output:
        report(
            directory(f"{OUT}/sub-{{subject}}"),
            patterns=["figures/{name}_qc.png"],
            caption="../report/qc_subject.rst",
            category="QC mosaics",
        ),
    log:
        f"{OUT}/logs/subject_volumes/sub-{{subject}}.log",
    group:
        "subjects"
    conda:
        "../envs/atrophy.yaml"
    params:
        sessions=subject_image_sessions,
        image_tissues=subject_image_tissues,
        tissues=TISSUES,
        t1w_sessions=subject_t1w_sessions,
        scans_sessions=subject_scans_sessions,
        time=config.get("time"),
    script:
        "../scripts/subject_volumes.py"
