"""Snakemake entry point: train one model family on the imported dataset."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import step_logging  # noqa: E402
from ethoflow.models.train import train  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    s = sm.params.settings
    train(
        family=s["family"],
        settings=s["network"],
        train_cfg=s["train"],
        train_json=sm.input.train,
        images_dir=sm.input.images,
        model_out=sm.output.model,
        log_csv=sm.output.log_csv,
        checkpoint=sm.params.checkpoint,
        device=s.get("device", "cpu"),
        threads=sm.threads,
        progress=logfh,
        hub=sm.params.hub,
    )
