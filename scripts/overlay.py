"""Snakemake entry point: draw a video's identity tracks (masks, outlines, labels) into an mp4."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.report import render_overlay  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    render_overlay(
        sm.input.video,
        sm.input.tracks,
        sm.output[0],
        identities=sm.params.identities,
        max_frames=sm.params.max_frames,
        progress=logfh,
    )
