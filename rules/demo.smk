checkpoint demo_video:
    output:
        video="resources/demo/videos/{video}.mp4",
        truth="resources/demo/truth/{video}.parquet",
        labels=directory("resources/demo/labels/{video}"),
        behaviour="resources/demo/behaviour/{video}.tsv",
    log:
        "logs/demo/{video}.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("demo_video"),
    params:
        # this video's own settings only: adding a demo video or changing another one's
        # re-renders nothing else
        spec=demo_spec,
        identities=config["identities"],
    script:
        "../scripts/make_demo.py"
