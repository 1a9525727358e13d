"""Snakemake entry point: motifs fitted on a bounded sample, assigned to every frame."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.steps import motifs_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    motifs_step(
        dict(zip(map(tuple, sm.params.pairs), sm.input.features)),
        sm.output[0],
        settings=sm.params.behaviour,
        train_tracker=sm.params.train_tracker,
        progress=logfh,
    )
