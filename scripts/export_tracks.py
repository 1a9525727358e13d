"""Snakemake entry point: export one model's tracks of one video to one format."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.io.exports import export_step  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    export_step(
        sm.params.fmt,
        sm.input.tracks,
        sm.output[0],
        identities=sm.params.identities,
        probe=sm.input.probe,
        keypoints=sm.input.get("keypoints"),
    )
