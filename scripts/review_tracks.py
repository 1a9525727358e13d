"""Snakemake entry point: the review queue of one tracker's flagged frames (LabelMe files)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.labels.qa import review_tracks  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    review_tracks(
        sm.input.tracks,
        sm.input.qa,
        sm.input.video,
        sm.output[0],
        video=sm.wildcards.video,
        identities=sm.params.identities,
        limit=sm.params.qa["review_limit"],
    )
