"""Snakemake entry point: one video's report page (metrics, QA, trajectories, timelines)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.report import build_video_page  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    out = Path(sm.output[0])
    build_video_page(
        out,
        video=sm.wildcards.video,
        tracks=dict(zip(sm.params.trackers, sm.input.tracks, strict=True)),
        truth=sm.input.truth[0] if sm.input.truth else None,
        metrics=dict(zip(sm.params.scored, sm.input.metrics, strict=True)),
        qa=dict(zip(sm.params.models, sm.input.qa, strict=True)),
        overlays=list(zip(sm.params.overlay_models, sm.input.overlays, strict=True)),
        identities=list(sm.params.identities),
        gate=sm.params.gate,
        iou_threshold=float(sm.params.iou_threshold),
        index_html=out.parent.parent / "index.html",
    )
