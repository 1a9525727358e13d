"""Snakemake entry point: the self-contained HTML report (tables, figures, overlay links)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.report import build_report  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    build_report(
        sm.output[0],
        summary_csv=sm.input.summary,
        coco_files=list(sm.input.coco),
        track_files=list(sm.input.tracks),
        truth_files=list(sm.input.truth),
        train_logs=list(sm.input.train_logs),
        overlays=list(sm.input.overlays),
        models=list(sm.params.models),
        videos=list(sm.params.videos),
        with_truth=list(sm.params.with_truth),
        labelled=list(sm.params.labelled),
        identities=list(sm.params.identities),
        trackers=list(sm.params.trackers),
        gates=dict(sm.params.gates),
        bootstrap_dirs=list(sm.input.bootstrap),
        qa_files=list(sm.input.qa),
    )
