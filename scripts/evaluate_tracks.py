"""Snakemake entry point: MOTA, IDF1, HOTA and identity accuracy of one video's tracks."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(snakemake.scriptdir).parent))  # noqa: F821
from ethoflow import tracktable  # noqa: E402
from ethoflow.io import step_logging, write_json  # noqa: E402
from ethoflow.metrics import evaluate_tracks  # noqa: E402

sm = snakemake  # noqa: F821
with step_logging(sm.log[0]):
    pred = tracktable.read(sm.input.tracks)
    truth = tracktable.read(sm.input.truth)
    out = {
        "model": sm.wildcards.model,
        "video": sm.wildcards.video,
        "labelled": bool(sm.params.labelled),
    }
    out.update(evaluate_tracks(pred, truth, iou_threshold=sm.params.iou_threshold))
    write_json(out, sm.output[0])
