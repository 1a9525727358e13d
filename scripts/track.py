"""Snakemake entry point: merge a video's shards and link detections into identity tracks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.io import (  # noqa: E402
    read_json,
    step_logging,
    tracktable,  # noqa: E402
)
from ethoflow.io.detections import read_detections  # noqa: E402
from ethoflow.labels.qa import qa_track_table  # noqa: E402
from ethoflow.tracking.identity import infer_stats, track  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]) as logfh:
    probe = read_json(sm.input.probe)
    shards = list(sm.input.shards)
    df = track(
        read_detections(shards),
        video=sm.wildcards.video,
        model=sm.wildcards.model,
        identities=sm.params.identities,
        n_frames=probe["n_frames"],
        fps=probe["fps"],
        params=sm.params.tracking,
        progress=logfh,
    )
    tracktable.write(df, sm.output.tracks, stats=infer_stats(shards))
    qa_track_table(
        df,
        sm.params.identities,
        sm.output.qa,
        settings=sm.params.qa,
        n_frames=probe["n_frames"],
        video=sm.wildcards.video,
    )
