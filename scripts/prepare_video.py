"""Snakemake entry point: a working copy of a video, cut to a frame range and downscaled."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.io.video import prepare  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    clip = sm.params.clip or [0, None]
    prepare(
        sm.input[0],
        sm.output[0],
        downscale=sm.params.downscale,
        start=clip[0],
        stop=clip[1],
        progress=logfh,
    )
