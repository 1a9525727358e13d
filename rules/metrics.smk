rule evaluate_coco:
    input:
        model=MODEL_FILE,
        val=f"{DATASET}/val.json",
        images=f"{DATASET}/images",
    output:
        COCO_JSON,
    log:
        LOGS["coco"],
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
        unpack(video_dataset),
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
        match=video_match,
        gate=video_gate_px,
    script:
        "../scripts/evaluate_tracks.py"


rule summarize:
    input:
        coco=COCO_FILES,
        tracks=[f"results/tracks/{m}/{v}.parquet" for m, v in TRACK_PAIRS],
        videos=[
            f"results/metrics/{m}/videos/{v}.json"
            for v in WITH_TRUTH
            for m in trackers_of(v)
        ],
        models=MODEL_FILES,
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
        pairs=TRACK_PAIRS,
        videos=VIDEOS,
        labelled=LABELLED,
        # with cohorts: the (cohort, model) of each input.coco, each video's cohort
        coco_keys=TRAIN_KEYS,
        video_cohorts=TRAIN_COHORT,
    script:
        "../scripts/summarize.py"
