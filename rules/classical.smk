rule classical_track:
    input:
        video=video_path,
        probe="results/probe/{video}.json",
    output:
        "results/tracks/classical/{video}.parquet",
    log:
        "logs/track/classical/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("classical_track"),
    params:
        baselines=config["baselines"],
        identities=video_identities,
    script:
        "../scripts/classical_track.py"
