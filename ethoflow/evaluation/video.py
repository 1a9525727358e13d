"""One video's tracks against its truth: all frames, and the labelled, unlabelled and touching
frames apart."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ethoflow.defaults import METRICS
from ethoflow.evaluation.mot import evaluate_tracks
from ethoflow.io import tracktable as T

#: The metrics repeated for each part of a video (``{metric}_{part}`` in the per-video result).
PART_METRICS = ("mota", "idf1", "hota", "id_switches", "identity_accuracy", "misses", "num_objects")


def touching_frames(truth: pd.DataFrame, dilate: int = 2) -> list[int]:
    """Frames where two truth masks touch (come within ``dilate`` pixels of each other).

    Only for truth with masks; truth made of points (keypoint centroids) has no such frames."""
    if "mask" not in truth.columns or truth["mask"].isna().all():
        return []
    return sorted(T.touching_frames(truth, dilate=dilate))


def evaluate_video(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    labelled_frames: Iterable[int] = (),
    *,
    iou_threshold: float = METRICS["iou_threshold"],
    match: str = "mask",
    gate: float = METRICS["gate_px"],
) -> dict:
    """Everything :func:`evaluate_tracks` gives over all of a video's truth frames, plus the same
    key metrics (:data:`PART_METRICS`) over three parts, as ``{metric}_{part}``:

    - ``labelled``: the frames that were labelled for training (seen by the model),
    - ``unlabelled``: all other frames (what a model must generalise to),
    - ``touching``: frames where truth animals touch (mask truth only), where a detector that
      cannot split touching animals loses one of them.

    ``frames_{part}`` gives each part's frame count; a part without frames has ``None`` metrics.
    """
    kw = dict(iou_threshold=iou_threshold, match=match, gate=gate)
    truth_frames = sorted({int(f) for f in truth["frame"].unique()})
    out = {
        "match": match,
        "gate_px": gate if match == "centroid" else None,
        **evaluate_tracks(pred, truth, frames=truth_frames, **kw),
    }
    labelled = {int(f) for f in labelled_frames}
    parts = {
        "labelled": [f for f in truth_frames if f in labelled],
        "unlabelled": [f for f in truth_frames if f not in labelled],
        "touching": touching_frames(truth) if match == "mask" else [],
    }
    for name, frames in parts.items():
        out[f"frames_{name}"] = len(frames)
        res = evaluate_tracks(pred, truth, frames=frames, **kw) if frames else {}
        for k in PART_METRICS:
            out[f"{k}_{name}"] = res.get(k)
    return out
