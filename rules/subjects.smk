# Per-subject stage: one job per subject (not per session) measures every session's regions
# and fits the subject's two-stage rates. participants.tsv is deliberately not an input, so
# editing a group or covariate never recomputes volumes.


rule subject_volumes:
    input:
        images=subject_images,
        sessions=subject_sessions_table,
        regions=REGION_TABLE,
    output:
        directory(f"{OUT}/sub-{{subject}}"),
    log:
        f"{OUT}/logs/subject_volumes/sub-{{subject}}.log",
    group:
        "subjects"
    conda:
        "../envs/atrophy.yaml"
    params:
        sessions=subject_session_labels,
    script:
        "../scripts/subject_volumes.py"
