"""Snakemake entry point: behaviour features of one video from one track source."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.steps import features_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    features_step(
        sm.input.source,
        sm.output[0],
        tracker=sm.wildcards.tracker,
        video=sm.wildcards.video,
        identities=sm.params.identities,
        settings=sm.params.behaviour,
        probe=sm.input.probe or None,
        progress=logfh,
    )
