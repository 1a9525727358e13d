"""Snakemake entry point: consistency checks of the label masks, and their review queue."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.labels.qa import qa_labels  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    qa_labels(
        list(sm.input),
        sm.params.identities,
        sm.output.table,
        sm.output.review,
        settings=sm.params.qa,
    )
