"""Snakemake entry point: one summary row per model x video (CSV + Parquet)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.evaluation.summary import (  # noqa: E402
    cohort_summary_rows,
    summary_rows,
    write_summary,
)
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    # The rule lists input.tracks in the order of params.pairs: one track table per pair.
    pairs = [tuple(p) for p in sm.params.pairs]
    tracks = dict(zip(pairs, sm.input.tracks, strict=True))
    if sm.params.video_cohorts:  # each cohort's own models (input.coco in params.coco_keys order)
        rows = cohort_summary_rows(
            coco_files=dict(zip(map(tuple, sm.params.coco_keys), sm.input.coco, strict=True)),
            track_files=tracks,
            video_metric_files=list(sm.input.videos),
            models=sm.params.models,
            video_cohorts=dict(sm.params.video_cohorts),
            labelled=sm.params.labelled,
            pairs=pairs,
        )
    else:
        rows = summary_rows(
            coco_files=list(sm.input.coco),
            track_files=tracks,
            video_metric_files=list(sm.input.videos),
            models=sm.params.models,
            pairs=pairs,
            videos=sm.params.videos,
            labelled=sm.params.labelled,
        )
    write_summary(rows, sm.output.csv, sm.output.parquet)
