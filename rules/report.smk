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
        identities=video_identities,
    script:
        "../scripts/overlay.py"


rule report:
    # Each list of inputs comes with the keys of its files, in the same order, as params:
    # the script pairs them up, so the library never reads a key off a path.
    input:
        summary="results/metrics/summary.csv",
        coco=COCO_FILES,
        tracks=[f"results/tracks/{m}/{v}.parquet" for m, v in TRACK_PAIRS],
        truth=[truth_of(v) for v in WITH_TRUTH],
        bootstrap=[f"results/bootstrap/{v}" for v in KEYPOINT_VIDEOS],
        qa=QA_LABEL_TABLES
        + [f"results/qa/tracks/{m}/{v}.parquet" for v in VIDEOS for m in MODELS],
        train_logs=TRAIN_LOGS,
        overlays=[
            f"results/report/overlays/{m}/{v}.mp4"
            for m in MODELS
            for v in OVERLAY_VIDEOS
        ],
        aggregate="results/aggregate/videos.parquet",
        groups="results/aggregate/groups.csv",
        tests="results/aggregate/tests.csv",
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
        identities=ALL_IDENTITIES,
        iou_threshold=config["metrics"]["iou_threshold"],
        # The keys of input.tracks, .bootstrap, .qa and .overlays, in their order (those of
        # input.truth are with_truth, of input.train_logs models).
        pairs=TRACK_PAIRS,
        bootstrap_videos=KEYPOINT_VIDEOS,
        qa_names=QA_LABEL_NAMES + [f"{m}/{v}" for v in VIDEOS for m in MODELS],
        # the trained models' names (cohort/model with cohorts): keys of input.train_logs
        model_keys=MODEL_KEYS,
        overlay_pairs=[(m, v) for m in MODELS for v in OVERLAY_VIDEOS],
    script:
        "../scripts/report.py"
