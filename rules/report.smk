rule overlay:
    input:
        tracks="results/tracks/{model}/{video}.parquet",
        video=video_path,
    output:
        report(
            "results/report/overlays/{model}/{video}.mp4",
            caption="../report/overlay.rst",
            category="Overlays",
            labels={"model": "{model}", "video": "{video}"},
        ),
    log:
        "logs/report/overlay/{model}/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("overlay"),
    params:
        max_frames=config["report"]["overlay_max_frames"],
        identities=config["identities"],
    script:
        "../scripts/overlay.py"


rule report:
    input:
        summary="results/metrics/summary.csv",
        coco=expand("results/metrics/{model}/coco.json", model=MODELS),
        tracks=[
            f"results/tracks/{m}/{v}.parquet" for v in VIDEOS for m in trackers_of(v)
        ],
        truth=[truth_of(v) for v in WITH_TRUTH],
        bootstrap=[f"results/bootstrap/{v}" for v in KEYPOINT_VIDEOS],
        qa=["results/qa/labels.parquet"]
        + [f"results/qa/tracks/{m}/{v}.parquet" for v in VIDEOS for m in MODELS],
        train_logs=expand("results/models/{model}/train_log.csv", model=MODELS),
        overlays=expand(
            "results/report/overlays/{model}/{video}.mp4",
            model=MODELS,
            video=config["report"]["overlay_videos"],
        ),
    output:
        report(
            "results/report/index.html",
            caption="../report/index.rst",
            category="Report",
        ),
    log:
        "logs/report/index.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("report"),
    params:
        models=MODELS,
        trackers=TRACKERS,
        gates={
            v: config["metrics"]["gate_px"] / downscale_of(v)
            for v in WITH_TRUTH
            if match_of(v) == "centroid"
        },
        videos=VIDEOS,
        with_truth=WITH_TRUTH,
        labelled=LABELLED,
        identities=config["identities"],
    script:
        "../scripts/report.py"
