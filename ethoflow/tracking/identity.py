"""Identity tracking: detections -> at most one instance per identity per frame.

Annolid keeps, per frame, the highest-scoring detection of each class (``groupby().head(1)``).
That throws away what the model says about the other identities and ignores where each animal was
a moment ago. Here, per frame:

1. detections whose P(animal) (sum of the identity probabilities) reaches ``min_score`` are kept,
   and those of the same animal (the per-class candidates of one object) are merged by mask
   overlap into one object carrying the identity distribution (``class_scores``);
2. objects and identities are matched by a Hungarian assignment maximising
   ``class_score + iou_weight * IoU(object mask, identity's previous mask)``;
3. a match is accepted when the classifier is sure (``class_score >= min_class_score``) or, when it
   is unsure, when the object overlaps the identity's previous mask (IoU fallback tracker,
   ``IoU >= fallback_iou``);
4. afterwards, gaps of up to ``max_gap`` frames in an identity's track are filled by interpolation
   (box and centroid linear, mask shifted), marked ``source = "interpolated"``.

:func:`infer_stats` sums the detection shards' inference statistics for the track table's schema
metadata (``{"infer_frames", "infer_seconds"}``), so that the metrics and the report can show each
model's inference speed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ethoflow.defaults import TRACKING
from ethoflow.io import masks as M
from ethoflow.io.detections import read_infer_stats
from ethoflow.io.tracktable import COLUMNS, row_from_mask

log = logging.getLogger(__name__)


def infer_stats(shard_paths) -> dict:
    """``{"infer_frames", "infer_seconds"}`` summed over detection shards (None when unknown)."""
    s = read_infer_stats(list(shard_paths))
    return {"infer_frames": s["frames"], "infer_seconds": s["seconds"]}


@dataclass
class _Object:
    mask: dict
    score: float
    class_scores: np.ndarray


def animal_score(frame_dets: pd.DataFrame) -> np.ndarray:
    """P(animal) of each detection: the sum of its identity probabilities (1 - P(background)).

    Unlike the per-class score, it does not drop an animal whose identity the classifier is
    unsure of (probability spread over several identities): the assignment decides identity.
    """
    if frame_dets.empty:
        return np.zeros(0)
    sums = np.array([float(np.sum(cs)) for cs in frame_dets["class_scores"]])
    return np.maximum(sums, frame_dets["score"].to_numpy(dtype=np.float64))


def merge_candidates(frame_dets: pd.DataFrame, min_score: float, cluster_iou: float):
    """Greedy, class-agnostic merge of one frame's detections into objects.

    Detections with ``P(animal) >= min_score`` (see :func:`animal_score`) are taken best first; a
    detection overlapping an object already taken (mask IoU >= ``cluster_iou``) is merged into it.
    """
    animal = animal_score(frame_dets)
    dets = frame_dets.assign(_animal=animal)
    dets = dets[(dets["_animal"] >= min_score) & (dets["mask_area"] > 0)]
    dets = dets.sort_values(["_animal", "score"], ascending=False, kind="stable")
    objects: list[_Object] = []
    if dets.empty:
        return objects
    rles = list(dets["mask"])
    ious = M.iou_matrix(rles, rles)
    owner = [-1] * len(rles)
    for i, (score, cs) in enumerate(zip(dets["score"], dets["class_scores"])):
        cs = np.asarray(cs, dtype=np.float64)
        for j in range(i):
            if owner[j] >= 0 and ious[i, j] >= cluster_iou:
                o = objects[owner[j]]
                o.class_scores = np.maximum(o.class_scores, cs)
                owner[i] = owner[j]
                break
        else:
            owner[i] = len(objects)
            objects.append(_Object(mask=rles[i], score=float(score), class_scores=cs))
    return objects


def assign(objects: list[_Object], previous: list[dict | None], p: dict) -> dict[int, int]:
    """Hungarian assignment of objects to identities; returns {identity index: object index}."""
    n_id = len(previous)
    if not objects:
        return {}
    cls = np.stack([o.class_scores for o in objects])  # objects x identities
    overlap = np.zeros_like(cls)
    have = [k for k, m in enumerate(previous) if m is not None]
    if have:
        overlap[:, have] = M.iou_matrix([o.mask for o in objects], [previous[k] for k in have])
    gain = cls + p["iou_weight"] * overlap
    rows, cols = linear_sum_assignment(-gain)
    out = {}
    for o, k in zip(rows, cols):
        if k >= n_id:
            continue
        if cls[o, k] >= p["min_class_score"] or overlap[o, k] >= p["fallback_iou"]:
            out[int(k)] = int(o)
    return out


def _interpolate(before: dict, after: dict, frame: int, f0: int, f1: int) -> dict:
    t = (frame - f0) / (f1 - f0)
    src = before if t <= 0.5 else after
    dx = (before["cx"] + t * (after["cx"] - before["cx"])) - src["cx"]
    dy = (before["cy"] + t * (after["cy"] - before["cy"])) - src["cy"]
    mask = M.shift(src["mask"], dx, dy)
    row = row_from_mask(mask)
    return dict(mask=mask, score=np.nan, source="interpolated", **row)


def track(
    detections: pd.DataFrame,
    *,
    video: str,
    model: str,
    identities: list[str],
    n_frames: int,
    fps: float,
    params: dict | None = None,
    progress=None,
) -> pd.DataFrame:
    """Detections of one video (all frames) -> track table rows."""
    p = {**TRACKING, **(params or {})}
    previous: list[dict | None] = [None] * len(identities)
    last_seen = [-(10**9)] * len(identities)
    per_identity: list[dict[int, dict]] = [dict() for _ in identities]
    by_frame = {f: g for f, g in detections.groupby("frame", sort=True)}
    frames = range(n_frames)
    if progress is not None:
        from tqdm import tqdm

        frames = tqdm(frames, desc=f"track {video}", file=progress, mininterval=5)
    for f in frames:
        for k in range(len(identities)):
            if f - last_seen[k] > p["max_age"]:
                previous[k] = None
        g = by_frame.get(f)
        if g is None:
            continue
        objects = merge_candidates(g, p["min_score"], p["cluster_iou"])
        for k, o in assign(objects, previous, p).items():
            obj = objects[o]
            row = row_from_mask(obj.mask)
            per_identity[k][f] = dict(
                mask=obj.mask, score=float(obj.class_scores[k]), source="detected", **row
            )
            previous[k] = obj.mask
            last_seen[k] = f
    rows = []
    for k, name in enumerate(identities):
        seen = per_identity[k]
        frames_k = sorted(seen)
        for a, b in zip(frames_k, frames_k[1:]):
            if 1 < b - a <= p["max_gap"] + 1:
                for f in range(a + 1, b):
                    seen[f] = _interpolate(seen[a], seen[b], f, a, b)
        for f, r in seen.items():
            rows.append(dict(video=video, model=model, frame=f, time_s=f / fps, identity=name, **r))
    df = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    n_interp = int((df["source"] == "interpolated").sum()) if len(df) else 0
    log.info(
        "%s: %d track rows (%d interpolated) over %d frames", video, len(df), n_interp, n_frames
    )
    return df.sort_values(["frame", "identity"], kind="stable").reset_index(drop=True)
