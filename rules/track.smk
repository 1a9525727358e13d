rule track:
    input:
        shards=expand(
            "results/detections/{{model}}/{{video}}/shard-{shard}.parquet",
            shard=SHARDS,
        ),
        probe="results/probe/{video}.json",
    output:
        "results/tracks/{model}/{video}.parquet",
    log:
        "logs/track/{model}/{video}.log",
    conda:
        "../envs/base.yaml"
    params:
        tracking=config["tracking"],
        identities=config["identities"],
    script:
        "../scripts/track.py"
