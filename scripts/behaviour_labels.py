"""Snakemake entry point: one video's behaviour label file -> its frame label table."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.steps import labels_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    labels_step(
        sm.input.labels,
        sm.input.features,
        sm.output.table,
        sm.output.info,
        fmt=sm.params.fmt,
        settings=sm.params.behaviour,
    )
