"""Snakemake entry point: the classical baseline tracker (threshold, blobs, Hungarian linking)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import (  # noqa: E402
    read_json,
    step_logging,
    tracktable,  # noqa: E402
)
from ethoflow.tracking.classical import track_video  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    cfg = dict(sm.params.baselines)
    cfg.pop("classical", None)
    probe = read_json(sm.input.probe)
    df = track_video(
        sm.input.video,
        sm.params.identities,
        progress=logfh,
        n_frames=probe["n_frames"],
        **cfg,
    )
    df["video"] = sm.wildcards.video
    df["model"] = "classical"
    df["time_s"] = df["frame"] / probe["fps"]
    tracktable.write(df, sm.output[0])
