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
        groups="results/aggregate/groups.parquet",
        tests="results/aggregate/tests.csv",
        pages=VIDEO_PAGES,  # linked from the index
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
        # The keys of input.bootstrap, .qa and .overlays, in their order (those of
        # input.train_logs are model_keys).
        bootstrap_videos=KEYPOINT_VIDEOS,
        qa_names=QA_LABEL_NAMES + [f"{m}/{v}" for v in VIDEOS for m in MODELS],
        # the trained models' names (cohort/model with cohorts): keys of input.train_logs
        model_keys=MODEL_KEYS,
        overlay_pairs=[(m, v) for m in MODELS for v in OVERLAY_VIDEOS],
    script:
        "../scripts/report.py"


rule report_video:
    # One page per video, from that video's files only: adding or changing another video never
    # rebuilds it. The index links to the pages.
    input:
        unpack(video_page_inputs),
    output:
        report(
            "results/report/videos/{video}.html",
            category="Videos",
            labels={"video": "{video}"},
        ),
    log:
        "logs/report/videos/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("report_video"),
    params:
        # the keys of input.tracks and input.metrics (trackers), of input.qa and
        # input.overlays (models), in their order
        trackers=video_trackers,
        scored=video_scored_trackers,
        models=MODELS,
        overlay_models=video_overlay_models,
        identities=video_identities,
        gate=video_gate,
        iou_threshold=config["metrics"]["iou_threshold"],
    script:
        "../scripts/report_video.py"
