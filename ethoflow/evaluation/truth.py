"""The ground truth that tracks are scored against, frame by frame and identity by identity.

The metrics (:mod:`ethoflow.evaluation.mot`) match predictions to truth without looking at
identities and then count what went wrong; :func:`identity_status` answers the simpler question
behind the report's identity timelines: on this frame, does the prediction called ``mouse1``
cover the truth ``mouse1``? It matches at the same IoU threshold as the metrics, so that the
timelines and the metric tables tell the same story.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ethoflow.defaults import METRICS
from ethoflow.io import masks as M

#: Slack on the IoU threshold, as in the metrics: an IoU of exactly the threshold matches.
_EPS = np.finfo(float).eps


def identity_status(
    pred: pd.DataFrame,
    truth: pd.DataFrame | None,
    identity: str,
    n_frames: int,
    gate: float | None = None,
    iou_threshold: float = METRICS["iou_threshold"],
) -> dict[str, np.ndarray]:
    """Per-frame boolean arrays (``n_frames`` long) for one identity.

    ``detected``, ``interpolated``, ``missing`` describe the prediction. With truth, on every
    frame that has truth rows (the annotated frames): ``wrong`` where the predicted mask of this
    identity does not match the truth mask of the same identity (IoU < ``iou_threshold``, or
    only one of the two exists), ``ok`` where they match. Truth without masks (keypoint
    centroids) matches on centroid distance instead when a ``gate`` (pixels) is given:
    ``wrong`` where the distance is ``gate`` or more.
    """
    detected = np.zeros(n_frames, dtype=bool)
    interpolated = np.zeros(n_frames, dtype=bool)
    p = pred[pred["identity"].astype(str) == identity]
    p_masks, p_xy = {}, {}
    for f, src, m, x, y in zip(p["frame"], p["source"], p["mask"], p["cx"], p["cy"], strict=True):
        f = int(f)
        if 0 <= f < n_frames:
            (interpolated if src == "interpolated" else detected)[f] = True
            p_masks[f] = m
            p_xy[f] = (x, y)
    out = {
        "detected": detected,
        "interpolated": interpolated,
        "missing": ~(detected | interpolated),
    }
    if truth is None or not len(truth):
        return out
    wrong = np.zeros(n_frames, dtype=bool)
    ok = np.zeros(n_frames, dtype=bool)
    t = truth[truth["identity"].astype(str) == identity]
    by_centroid = gate is not None and t["mask"].isna().all()
    t_masks = {int(f): m for f, m in zip(t["frame"], t["mask"], strict=True)}
    t_xy = {int(f): (x, y) for f, x, y in zip(t["frame"], t["cx"], t["cy"], strict=True)}
    for f in sorted(int(x) for x in truth["frame"].unique()):
        if not 0 <= f < n_frames:
            continue
        pm, tm = (p_xy.get(f), t_xy.get(f)) if by_centroid else (p_masks.get(f), t_masks.get(f))
        if pm is None and tm is None:
            continue
        if pm is None or tm is None:
            match = False
        elif by_centroid:
            match = float(np.hypot(pm[0] - tm[0], pm[1] - tm[1])) < gate
        else:
            match = M.iou_matrix([pm], [tm])[0, 0] >= iou_threshold - _EPS
        wrong[f] = not match
        ok[f] = match
    out["wrong"] = wrong
    out["ok"] = ok
    return out
