rule train:
    input:
        train="results/dataset/train.json",
        images="results/dataset/images",
    output:
        model="results/models/{model}/model.pt",
        log_csv=report(
            "results/models/{model}/train_log.csv",
            caption="../report/train_log.rst",
            category="Training",
            labels={"model": "{model}"},
        ),
    log:
        "logs/train/{model}.log",
    conda:
        "../envs/torch.yaml"
    threads: model_threads
    resources:
        **job_resources("train"),
    params:
        settings=model_params,
        hub=model_hub_params,
        checkpoint="results/checkpoints/{model}/resume.pt",
    script:
        "../scripts/train.py"
