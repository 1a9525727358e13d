rule qa_labels:
    input:
        label_files,
    output:
        table=QA_LABELS,
        review=directory(QA_REVIEW),
    log:
        LOGS["qa"],
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("qa_labels"),
    params:
        qa=config["qa"],
        identities=cohort_identities,
    script:
        "../scripts/qa_labels.py"


rule review_tracks:
    input:
        tracks="results/tracks/{model}/{video}.parquet",
        qa="results/qa/tracks/{model}/{video}.parquet",
        video=video_path,
    output:
        directory("results/qa/review/{model}/{video}"),
    log:
        "logs/qa/review-{model}-{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("review_tracks"),
    params:
        qa=config["qa"],
        identities=video_identities,
    script:
        "../scripts/review_tracks.py"
