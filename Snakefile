# ethoflow: lab-animal videos -> instance segmentation -> identity tracks -> metrics and reports.
#   snakemake --cores 2                      (local, the embedded demo)
#   snakemake --profile profiles/slurm       (a SLURM cluster)
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: "config/config.yaml"


validate(config, "config/schemas/config.schema.yaml")


include: "rules/common.smk"
include: "rules/demo.smk"
include: "rules/keypoints.smk"
include: "rules/frames.smk"
include: "rules/bootstrap.smk"
include: "rules/annotations.smk"
include: "rules/qa.smk"
include: "rules/train.smk"
include: "rules/infer.smk"
include: "rules/track.smk"
include: "rules/classical.smk"
include: "rules/metrics.smk"
include: "rules/report.smk"
include: "rules/behaviour.smk"
include: "rules/export.smk"
include: "rules/aggregate.smk"


rule all:
    default_target: True
    input:
        # detection and tracking (projects with videos and models)
        (
            [
                expand("results/frames/{video}", video=VIDEOS),
                "results/metrics/summary.csv",
                "results/report/index.html",
                expand(
                    "results/qa/review/{model}/{video}",
                    model=MODELS,
                    video=OVERLAY_VIDEOS,
                ),
                QA_REVIEWS,
                "results/aggregate/groups.csv",
                VIDEO_PAGES,
                EXPORTS,
            ]
            if MODELS
            else []
        ),
        # behaviour (also pose-only projects)
        (
            [
                "results/behaviour/metrics.csv",
                "results/report/behaviour.html",
                [f"results/behaviour/features/{t}/{v}.parquet" for t, v in BEH_PAIRS],
            ]
            if BEH_ON
            else []
        ),
