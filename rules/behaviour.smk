# Behaviour: features per (tracker, video) -> labels per video -> one training job per
# classifier -> predictions, bouts and time budgets per (classifier, tracker, video) ->
# metrics, motifs and the behaviour report.


rule behaviour_features:
    input:
        source=beh_track_source,
        probe=beh_probe,
    output:
        "results/behaviour/features/{tracker}/{video}.parquet",
    log:
        "logs/behaviour/features/{tracker}/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("behaviour_features"),
    params:
        behaviour=BEH_FEATURES,
        identities=video_identities,
    script:
        "../scripts/behaviour_features.py"


rule behaviour_labels:
    input:
        labels=beh_label_file,
        features=f"results/behaviour/features/{BEH_TRAIN}/{{video}}.parquet",
    output:
        table="results/behaviour/labels/{video}.parquet",
        info="results/behaviour/labels/{video}.json",
    log:
        "logs/behaviour/labels/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("behaviour_labels"),
    params:
        behaviour=BEH_LABELS,
        fmt=lambda wc: beh_label_format(wc.video),
    script:
        "../scripts/behaviour_labels.py"


rule behaviour_train:
    input:
        features=expand(
            "results/behaviour/features/{tracker}/{video}.parquet",
            tracker=BEH_TRAIN,
            video=BEH_LABELLED,
        ),
        labels=expand("results/behaviour/labels/{video}.parquet", video=BEH_LABELLED),
    output:
        model="results/behaviour/models/{classifier}/model.bin",
        oof="results/behaviour/models/{classifier}/oof.parquet",
        log_csv="results/behaviour/models/{classifier}/train_log.csv",
    log:
        "logs/behaviour/train/{classifier}.log",
    wildcard_constraints:
        classifier=_one_of(CLASSIFIERS),
    conda:
        "../envs/torch.yaml"
    threads: 2
    resources:
        **job_resources("behaviour_train"),
    params:
        behaviour=BEH_CLASSIFY,
        videos=BEH_LABELLED,
        checkpoint="results/checkpoints/behaviour/{classifier}",
    script:
        "../scripts/behaviour_train.py"


rule behaviour_predict:
    input:
        model="results/behaviour/models/{classifier}/model.bin",
        features="results/behaviour/features/{tracker}/{video}.parquet",
    output:
        predictions="results/behaviour/predictions/{classifier}/{tracker}/{video}.parquet",
        bouts="results/behaviour/bouts/{classifier}/{tracker}/{video}.csv",
        budgets="results/behaviour/budgets/{classifier}/{tracker}/{video}.csv",
        boris="results/behaviour/boris/{classifier}/{tracker}/{video}.tsv",
    log:
        "logs/behaviour/predict/{classifier}/{tracker}/{video}.log",
    wildcard_constraints:
        classifier=_one_of(CLASSIFIERS),
    conda:
        "../envs/torch.yaml"
    threads: 1
    resources:
        **job_resources("behaviour_predict"),
    params:
        behaviour=BEH_CLASSIFY,
    script:
        "../scripts/behaviour_predict.py"


rule behaviour_metrics:
    input:
        predictions=[
            f"results/behaviour/predictions/{c}/{t}/{v}.parquet"
            for c in CLASSIFIERS
            for v in BEH_TRUTH
            for t in beh_trackers_of(v)
        ],
        labels=expand("results/behaviour/labels/{video}.parquet", video=BEH_TRUTH),
        info=expand("results/behaviour/labels/{video}.json", video=BEH_TRUTH),
        oof=expand(
            "results/behaviour/models/{classifier}/oof.parquet", classifier=CLASSIFIERS
        ),
    output:
        metrics="results/behaviour/metrics.csv",
        per_behaviour="results/behaviour/metrics_per_behaviour.csv",
        confusion="results/behaviour/confusion.csv",
        agreement="results/behaviour/agreement.csv",
    log:
        "logs/behaviour/metrics.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("behaviour_metrics"),
    params:
        behaviour=BEH_METRICS,
        # the keys of input.predictions, in their order
        runs=[
            (c, t, v)
            for c in CLASSIFIERS
            for v in BEH_TRUTH
            for t in beh_trackers_of(v)
        ],
        videos=BEH_TRUTH,
        labelled=BEH_LABELLED,
        classifiers=CLASSIFIERS,
        train_tracker=BEH_TRAIN,
    script:
        "../scripts/behaviour_metrics.py"


rule behaviour_motifs:
    input:
        features=[f"results/behaviour/features/{t}/{v}.parquet" for t, v in BEH_PAIRS],
    output:
        directory("results/behaviour/motifs"),
    log:
        "logs/behaviour/motifs.log",
    conda:
        "../envs/base.yaml"
    threads: 2
    resources:
        **job_resources("behaviour_motifs"),
    params:
        behaviour=BEH_MOTIFS,
        pairs=BEH_PAIRS,
        train_tracker=BEH_TRAIN,
    script:
        "../scripts/behaviour_motifs.py"


rule behaviour_report:
    input:
        metrics="results/behaviour/metrics.csv",
        per_behaviour="results/behaviour/metrics_per_behaviour.csv",
        confusion="results/behaviour/confusion.csv",
        agreement="results/behaviour/agreement.csv",
        labels=expand("results/behaviour/labels/{video}.parquet", video=BEH_TRUTH),
        predictions=[
            f"results/behaviour/predictions/{c}/{BEH_TRAIN}/{v}.parquet"
            for c in CLASSIFIERS
            for v in ENTRIES
        ],
        budgets=[
            f"results/behaviour/budgets/{c}/{BEH_TRAIN}/{v}.csv"
            for c in CLASSIFIERS
            for v in ENTRIES
        ],
        motifs="results/behaviour/motifs" if BEH["motifs"]["enabled"] else [],
        overlays=[
            f"results/report/overlays/{m}/{v}.mp4"
            for m in MODELS[:1]
            for v in OVERLAY_VIDEOS
        ],
    output:
        report(
            "results/report/behaviour.html",
            caption="../report/behaviour.rst",
            category="Report",
        ),
    log:
        "logs/report/behaviour.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("behaviour_report"),
    params:
        behaviour=BEH_REPORT,
        classifiers=CLASSIFIERS,
        videos=ENTRIES,
        truth_videos=BEH_TRUTH,
        tracker=BEH_TRAIN,
        overlay_videos=[v for v in OVERLAY_VIDEOS if MODELS],
    script:
        "../scripts/behaviour_report.py"
