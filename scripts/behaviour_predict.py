"""Snakemake entry point: one classifier on one video's features -> predictions, bouts, budgets."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.behaviour.classify import predict_step  # noqa: E402
from ethoflow.io import step_logging  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    predict_step(
        sm.input.model,
        sm.input.features,
        classifier=sm.wildcards.classifier,
        settings=sm.params.behaviour,
        predictions=sm.output.predictions,
        bouts=sm.output.bouts,
        budgets=sm.output.budgets,
        boris=sm.output.boris,
        threads=sm.threads,
    )
