rule probe:
    input:
        video_path,
    output:
        "results/probe/{video}.json",
    log:
        "logs/probe/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("probe"),
    script:
        "../scripts/probe.py"


rule extract_frames:
    input:
        video=video_path,
        probe="results/probe/{video}.json",
    output:
        directory("results/frames/{video}"),
    log:
        "logs/frames/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("extract_frames"),
    params:
        frames=config["frames"],
    script:
        "../scripts/extract_frames.py"
