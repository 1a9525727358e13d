rule qa_labels:
    input:
        label_files,
    output:
        table="results/qa/labels.parquet",
        review=directory("results/qa/review/labels"),
    log:
        "logs/qa/labels.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("qa_labels"),
    params:
        qa=config["qa"],
        identities=config["identities"],
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
        identities=config["identities"],
    script:
        "../scripts/review_tracks.py"
