"""Snakemake entry point: run a trained model on one frame-range shard of one video."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
import torch  # noqa: E402

from ethoflow.io import read_json, step_logging  # noqa: E402
from ethoflow.models import load_model, resolve_device  # noqa: E402
from ethoflow.tracking.infer import infer_shard, shard_range  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    s = sm.params.settings
    torch.set_num_threads(sm.threads)
    device = resolve_device(s.get("device", "cpu"))
    model, meta = load_model(sm.input.model, device, hub=sm.params.hub)
    n_frames = read_json(sm.input.probe)["n_frames"]
    batch = s["infer"]["batch_size"]
    start, stop = shard_range(n_frames, sm.params.shards, int(sm.wildcards.shard), batch)
    infer_shard(
        model,
        meta["identities"],
        sm.input.video,
        sm.wildcards.video,
        start,
        stop,
        sm.output[0],
        batch_size=batch,
        device=device,
        min_score=s["infer"]["min_score"],
        mask_threshold=s["infer"]["mask_threshold"],
        progress=logfh,
    )
