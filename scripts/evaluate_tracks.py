"""Snakemake entry point: MOTA, IDF1, HOTA and identity accuracy of one video's tracks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow.evaluation.video import evaluate_video  # noqa: E402
from ethoflow.io import (  # noqa: E402
    read_json,
    step_logging,
    tracktable,  # noqa: E402
    write_json,
)

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    pred = tracktable.read(sm.input.tracks)
    truth = tracktable.read(sm.input.truth)
    out = {
        "model": sm.wildcards.model,
        "video": sm.wildcards.video,
        "labelled": bool(sm.params.labelled),
    }
    video = sm.wildcards.video
    labelled_frames = sorted(
        int(img["frame"])
        for part in (sm.input.train, sm.input.val)
        for img in read_json(part)["images"]
        if img.get("video") == video and img.get("frame", -1) >= 0
    )
    out.update(
        evaluate_video(
            pred,
            truth,
            labelled_frames,
            iou_threshold=sm.params.iou_threshold,
            match=sm.params.match,
            gate=sm.params.gate,
        )
    )
    write_json(out, sm.output[0])
