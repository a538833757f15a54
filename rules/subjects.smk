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
    script:
        "../scripts/subject_volumes.py"
