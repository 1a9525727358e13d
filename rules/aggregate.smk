rule aggregate:
    # Per-video measures of every model x video -> per-cohort and per-group tables. The only
    # job that reads the sheet's conditions: editing one re-runs this and the report.
    input:
        summary="results/metrics/summary.parquet",
        tracks=[f"results/tracks/{m}/{v}.parquet" for m, v in MODEL_PAIRS],
        qa=[f"results/qa/tracks/{m}/{v}.parquet" for m, v in MODEL_PAIRS],
        budgets=[f"results/behaviour/budgets/{s}/{v}.csv" for s, v in BUDGET_PAIRS],
    output:
        videos="results/aggregate/videos.parquet",
        videos_csv="results/aggregate/videos.csv",
        groups="results/aggregate/groups.parquet",
        groups_csv="results/aggregate/groups.csv",
        tests="results/aggregate/tests.csv",
    log:
        "logs/aggregate.log",
    conda:
        "../envs/base.yaml"
    resources:
        **job_resources("aggregate"),
    params:
        # the keys of input.tracks / input.qa and of input.budgets, in their order
        track_pairs=MODEL_PAIRS,
        budget_pairs=BUDGET_PAIRS,
        conditions=CONDITIONS,
        condition_columns=CONDITION_COLUMNS,
        aggregate=config["aggregate"],
        downscale={v: downscale_of(v) for v in VIDEOS if downscale_of(v) != 1},
    script:
        "../scripts/aggregate.py"
