rule bootstrap_masks:
    input:
        video=video_path,
        keypoints="results/keypoints/{video}.parquet",
        frames="results/frames/{video}",
    output:
        directory("results/bootstrap/{video}"),
    log:
        "logs/bootstrap/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("bootstrap_masks"),
    params:
        bootstrap=config["bootstrap"],
    script:
        "../scripts/bootstrap_masks.py"
