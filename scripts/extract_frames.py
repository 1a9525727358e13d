"""Snakemake entry point: frames proposed for labelling, written as PNG."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.labels.frames import extract_frames  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    cfg = sm.params.frames
    extract_frames(
        sm.input.video,
        sm.output[0],
        sm.wildcards.video,
        n=cfg["n"],
        method=cfg["method"],
        seed=cfg["seed"],
        progress=logfh,
    )
