"""Snakemake entry point: score every classifier's predictions against the behaviour truth."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.steps import metrics_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    metrics_step(
        predictions=dict(zip(map(tuple, sm.params.runs), sm.input.predictions)),
        labels=dict(zip(sm.params.videos, sm.input.labels)),
        infos=dict(zip(sm.params.videos, sm.input.info)),
        oof=dict(zip(sm.params.classifiers, sm.input.oof)),
        labelled=sm.params.labelled,
        settings=sm.params.behaviour,
        out=dict(sm.output.items()),
        train_tracker=sm.params.train_tracker,
    )
