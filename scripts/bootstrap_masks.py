"""Snakemake entry point: instance masks bootstrapped from keypoint labels, as LabelMe files."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.labels.bootstrap import bootstrap_video  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    bootstrap_video(
        sm.input.video,
        sm.input.keypoints,
        sm.input.frames,
        sm.output[0],
        video=sm.wildcards.video,
        settings=sm.params.bootstrap,
        progress=logfh,
    )
