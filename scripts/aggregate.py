"""Snakemake entry point: per-video measures -> per-cohort and per-group aggregates."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
import pandas as pd  # noqa: E402

from ethoflow import aggregate as A  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    # input lists come in the order of their params keys
    tracks = dict(zip(map(tuple, sm.params.track_pairs), sm.input.tracks, strict=True))
    qa = dict(zip(map(tuple, sm.params.track_pairs), sm.input.qa, strict=True))
    budgets = dict(zip(map(tuple, sm.params.budget_pairs), sm.input.budgets, strict=True))
    settings = sm.params.aggregate
    measures = A.measures_table(
        summary=pd.read_parquet(sm.input.summary) if sm.input.summary else None,
        tracks=tracks,
        qa=qa,
        budgets=budgets,
        conditions=pd.DataFrame(sm.params.conditions, columns=sm.params.condition_columns),
        moving_px_s=settings["moving_px_s"],
        downscale=sm.params.downscale,
        progress=logfh,
    )
    A.write_tables(measures, sm.output.videos_csv, sm.output.videos)
    groups = A.group_table(measures)
    A.write_tables(groups, sm.output.groups_csv, sm.output.groups)
    tests = A.two_group_tests(measures, settings["compare"], by=settings["compare_by"])
    A.write_tables(tests, sm.output.tests, None)
