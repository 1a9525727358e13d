rule infer_shard:
    input:
        model=video_model,
        video=video_path,
        probe="results/probe/{video}.json",
    output:
        "results/detections/{model}/{video}/shard-{shard}.parquet",
    log:
        "logs/infer/{model}/{video}/shard-{shard}.log",
    conda:
        "../envs/torch.yaml"
    threads: model_threads
    resources:
        **job_resources("infer_shard"),
    params:
        settings=model_params,
        hub=model_hub_params,
        shards=video_shard_count,
    script:
        "../scripts/infer.py"
