rule prepare_video:
    input:
        raw_video,
    output:
        "results/videos/{video}.mp4",
    log:
        "logs/prepare/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("prepare_video"),
    params:
        downscale=video_downscale,
        clip=video_clip,
    script:
        "../scripts/prepare_video.py"


rule import_keypoints:
    input:
        lambda wc: VIDEO_CFG[wc.video]["keypoints"],
    output:
        "results/keypoints/{video}.parquet",
    log:
        "logs/keypoints/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("import_keypoints"),
    params:
        identities=video_identities,
        downscale=video_downscale,
        clip=video_clip,
    script:
        "../scripts/import_keypoints.py"


rule keypoint_truth:
    input:
        "results/keypoints/{video}.parquet",
    output:
        "results/truth/{video}.parquet",
    log:
        "logs/keypoints/truth-{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("keypoint_truth"),
    script:
        "../scripts/keypoint_truth.py"


rule import_compare:
    input:
        lambda wc: COMPARE[wc.model][wc.video],
    output:
        "results/tracks/{model}/{video}.parquet",
    log:
        "logs/compare/{model}/{video}.log",
    wildcard_constraints:
        model=_one_of(COMPARE),
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("import_compare"),
    params:
        identities=video_identities,
        downscale=video_downscale,
        clip=video_clip,
    script:
        "../scripts/import_compare.py"
