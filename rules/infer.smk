rule infer_shard:
    input:
        model="results/models/{model}/model.pt",
        video=video_path,
        probe="results/probe/{video}.json",
    output:
        "results/detections/{model}/{video}/shard-{shard}.parquet",
    log:
        "logs/infer/{model}/{video}/shard-{shard}.log",
    conda:
        "../envs/torch.yaml"
    threads: lambda wc: model_settings(wc.model).get("threads", 2)
    resources:
        **job_resources("infer_shard"),
    params:
        settings=lambda wc: model_settings(wc.model),
        hub=lambda wc: model_hub(wc.model),
        shards=config["inference"]["shards"],
    script:
        "../scripts/infer.py"
