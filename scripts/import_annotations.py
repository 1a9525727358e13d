"""Snakemake entry point: LabelMe/COCO labels -> validated COCO train/val datasets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.labels.annotations import import_annotations  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    import_annotations(
        list(sm.input),
        sm.params.identities,
        sm.output.train,
        sm.output.val,
        sm.output.images,
        val_fraction=sm.params.val_fraction,
    )
