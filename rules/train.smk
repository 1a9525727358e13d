rule train:
    input:
        train=f"{DATASET}/train.json",
        images=f"{DATASET}/images",
    output:
        model=MODEL_FILE,
        log_csv=report(
            TRAIN_LOG,
            caption="../report/train_log.rst",
            category="Training",
            labels=TRAIN_LABELS,
        ),
    log:
        LOGS["train"],
    conda:
        "../envs/torch.yaml"
    threads: model_threads
    resources:
        **job_resources("train"),
    params:
        settings=model_params,
        hub=model_hub_params,
        checkpoint=CHECKPOINT,
    script:
        "../scripts/train.py"
