rule evaluate_coco:
    input:
        model="results/models/{model}/model.pt",
        val="results/dataset/val.json",
        images="results/dataset/images",
    output:
        "results/metrics/{model}/coco.json",
    log:
        "logs/metrics/{model}/coco.log",
    conda:
        "../envs/torch.yaml"
    threads: model_threads
    resources:
        **job_resources("evaluate_coco"),
    params:
        settings=model_params,
        hub=model_hub_params,
    script:
        "../scripts/evaluate_coco.py"


rule evaluate_tracks:
    input:
        tracks="results/tracks/{model}/{video}.parquet",
        truth=truth_path,
    output:
        "results/metrics/{model}/videos/{video}.json",
    log:
        "logs/metrics/{model}/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("evaluate_tracks"),
    params:
        iou_threshold=config["metrics"]["iou_threshold"],
        labelled=is_labelled,
    script:
        "../scripts/evaluate_tracks.py"


rule summarize:
    input:
        coco=expand("results/metrics/{model}/coco.json", model=MODELS),
        tracks=expand(
            "results/tracks/{model}/{video}.parquet", model=MODELS, video=VIDEOS
        ),
        videos=expand(
            "results/metrics/{model}/videos/{video}.json",
            model=MODELS,
            video=WITH_TRUTH,
        ),
        models=expand("results/models/{model}/model.pt", model=MODELS),
    output:
        csv=report(
            "results/metrics/summary.csv",
            caption="../report/summary.rst",
            category="Metrics",
        ),
        parquet="results/metrics/summary.parquet",
    log:
        "logs/metrics/summary.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("summarize"),
    params:
        models=MODELS,
        videos=VIDEOS,
        labelled=LABELLED,
    script:
        "../scripts/summarize.py"
