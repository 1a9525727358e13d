"""Snakemake entry point: train one behaviour classifier (TCN or trees) on the labelled videos."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.classify import train_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    train_step(
        sm.wildcards.classifier,
        list(sm.input.features),
        list(sm.input.labels),
        model_dest=sm.output.model,
        oof_dest=sm.output.oof,
        log_csv=sm.output.log_csv,
        settings=sm.params.behaviour,
        checkpoint=sm.params.checkpoint,
        threads=sm.threads,
        progress=logfh,
    )
