"""Snakemake entry point: another tracker's output (SLEAP, DeepLabCut, a track table) -> a track
table scored beside ethoflow's models."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import keypoints as K  # noqa: E402
from ethoflow.io import (
    step_logging,  # noqa: E402
    tracktable,  # noqa: E402
)

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    df = K.compare_table(
        sm.input[0],
        video=sm.wildcards.video,
        tracker=sm.wildcards.model,
        downscale=sm.params.downscale,
        clip=sm.params.clip,
    )
    tracktable.write(df, sm.output[0])
