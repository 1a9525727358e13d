"""Tracking metrics: CLEAR-MOT/ID (motmetrics), HOTA and identity accuracy.

Predicted tracks and ground truth are both track tables (:mod:`ethoflow.io.tracktable`); ground
truth rows carry ``source == "truth"``. On both sides the ``identity`` string is the track id: for
predictions it is the hypothesis id, for truth the object id. Similarity between a prediction and
a truth row is **mask IoU** (:func:`ethoflow.io.masks.iou_matrix`) by default. Where the truth has
no masks, only points (keypoint labels from SLEAP or DeepLabCut: the centroid of an animal's
visible keypoints), pass ``match="centroid"`` and a gate in pixels: the similarity is then
``1 - d / gate`` for a centroid distance ``d < gate`` and 0 beyond it, and a pair can be matched
only while ``d < gate`` (the MOTA/IDF1 of SLEAP's and DeepLabCut's own evaluations). HOTA keeps its
definition with that similarity in place of IoU.

Frames are the union of the frames present in either table: a frame with truth but no predictions
counts its truth rows as misses, predictions on a frame without truth count as false positives.
Pass ``frames=`` to :func:`evaluate_tracks` to restrict evaluation to e.g. the annotated frames.

Values that are undefined (a ratio with a zero denominator) are returned as ``nan``.

motmetrics 1.4.0 and numpy 2: the only motmetrics code that calls the removed ``np.asfarray`` is
``motmetrics.distances.iou_matrix`` (box IoU). This module never calls it; it builds the distance
matrices itself from mask IoU and only uses ``MOTAccumulator`` and ``metrics.create().compute``,
which are numpy-2 clean. motmetrics 1.4.0 also stores object/hypothesis ids as floats, so string
identities are mapped to integer ids before they reach the accumulator.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import motmetrics as mm
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ethoflow.defaults import METRICS
from ethoflow.io import masks as M

_EPS = np.finfo(float).eps

#: HOTA localisation thresholds, as in TrackEval.
HOTA_ALPHAS = np.arange(0.05, 0.99, 0.05)

#: motmetrics metric name -> key in our result dict.
_MM_METRICS = {
    "mota": "mota",
    "motp": "motp",
    "idf1": "idf1",
    "idp": "idp",
    "idr": "idr",
    "num_switches": "id_switches",
    "num_misses": "misses",
    "num_false_positives": "false_positives",
    "num_objects": "num_objects",
    "num_predictions": "num_predictions",
    "precision": "precision",
    "recall": "recall",
    "mostly_tracked": "mostly_tracked",
    "partially_tracked": "partially_tracked",
    "mostly_lost": "mostly_lost",
    "num_fragmentations": "fragmentations",
    "num_frames": "num_frames",
}
_MM_INT_KEYS = {
    "id_switches",
    "misses",
    "false_positives",
    "num_objects",
    "num_predictions",
    "mostly_tracked",
    "partially_tracked",
    "mostly_lost",
    "fragmentations",
    "num_frames",
}


# ----------------------------------------------------------------------------------------------
# Pairing predictions with truth, frame by frame
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    """One frame: truth and prediction identities and their pairwise mask IoU."""

    frame: int
    truth_ids: list[str]
    pred_ids: list[str]
    iou: np.ndarray  # shape (len(truth_ids), len(pred_ids))


#: Matching modes: what "similarity" between a prediction and a truth row means.
MATCH_MODES = ("mask", "centroid")
#: With ``match="centroid"`` a pair counts as matched when its similarity reaches this (d < gate).
_CENTROID_MIN_SIM = 1e-9


def _check(df: pd.DataFrame, what: str, match: str = "mask") -> pd.DataFrame:
    need = ("frame", "identity", "mask") if match == "mask" else ("frame", "identity", "cx", "cy")
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise ValueError(f"{what} track table lacks columns {missing}")
    if "video" in df.columns and df["video"].nunique() > 1:
        raise ValueError(
            f"{what} track table holds {df['video'].nunique()} videos; evaluate one video at a time"
        )
    if df.duplicated(["frame", "identity"]).any():
        raise ValueError(f"{what} track table has more than one row for an identity in a frame")
    return df


def centroid_similarity(truth_xy: np.ndarray, pred_xy: np.ndarray, gate: float) -> np.ndarray:
    """``max(0, 1 - d / gate)`` for every truth x prediction centroid distance ``d``."""
    truth_xy = np.asarray(truth_xy, dtype=float).reshape(-1, 2)
    pred_xy = np.asarray(pred_xy, dtype=float).reshape(-1, 2)
    if not len(truth_xy) or not len(pred_xy):
        return np.zeros((len(truth_xy), len(pred_xy)))
    d = np.linalg.norm(truth_xy[:, None, :] - pred_xy[None, :, :], axis=2)
    return np.clip(1.0 - np.nan_to_num(d, nan=np.inf) / gate, 0.0, 1.0)


def _pair_frames(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    frames: Iterable[int] | None = None,
    match: str = "mask",
    gate: float = METRICS["gate_px"],
) -> list[_Frame]:
    """Group both tables by frame (union of frames) and compute the truth x prediction
    similarity: mask IoU, or the gated centroid similarity (``match="centroid"``)."""
    if match not in MATCH_MODES:
        raise ValueError(f"unknown match mode {match!r} (one of {MATCH_MODES})")
    if match == "centroid" and not gate > 0:
        raise ValueError(f"the centroid gate must be > 0 pixels, got {gate}")
    pred = _check(pred, "prediction", match)
    truth = _check(truth, "truth", match)
    if frames is not None:
        keep = {int(f) for f in frames}
        pred = pred[pred["frame"].isin(keep)]
        truth = truth[truth["frame"].isin(keep)]
    by_pred = {int(f): g for f, g in pred.groupby("frame", sort=False)}
    by_truth = {int(f): g for f, g in truth.groupby("frame", sort=False)}
    out = []
    for f in sorted(set(by_pred) | set(by_truth)):
        t = by_truth.get(f)
        p = by_pred.get(f)
        t_ids = [str(i) for i in t["identity"]] if t is not None else []
        p_ids = [str(i) for i in p["identity"]] if p is not None else []
        if match == "centroid":
            t_xy = t[["cx", "cy"]].to_numpy(float) if t is not None else np.zeros((0, 2))
            p_xy = p[["cx", "cy"]].to_numpy(float) if p is not None else np.zeros((0, 2))
            out.append(_Frame(f, t_ids, p_ids, centroid_similarity(t_xy, p_xy, gate)))
        else:
            t_masks = list(t["mask"]) if t is not None else []
            p_masks = list(p["mask"]) if p is not None else []
            out.append(_Frame(f, t_ids, p_ids, M.iou_matrix(t_masks, p_masks)))
    return out


def _id_index(frames: list[_Frame], side: str) -> dict[str, int]:
    ids = sorted({i for fr in frames for i in getattr(fr, side)})
    return {i: k for k, i in enumerate(ids)}


def _plain(value, as_int: bool = False):
    """numpy/pandas scalar -> plain Python int/float; infinities become nan (undefined)."""
    if as_int:
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else float("nan")


# ----------------------------------------------------------------------------------------------
# CLEAR-MOT and ID metrics
# ----------------------------------------------------------------------------------------------


def _mot(frames: list[_Frame], iou_threshold: float) -> dict:
    t_index = _id_index(frames, "truth_ids")
    p_index = _id_index(frames, "pred_ids")
    acc = mm.MOTAccumulator(auto_id=False)
    for fr in frames:
        dist = np.where(fr.iou >= iou_threshold - _EPS, 1.0 - fr.iou, np.nan)
        acc.update(
            [t_index[i] for i in fr.truth_ids],
            [p_index[i] for i in fr.pred_ids],
            dist,
            frameid=fr.frame,
        )
    summary = mm.metrics.create().compute(acc, metrics=list(_MM_METRICS), name="all")
    row = summary.loc["all"]
    return {key: _plain(row[name], key in _MM_INT_KEYS) for name, key in _MM_METRICS.items()}


def mot_metrics(
    pred: pd.DataFrame, truth: pd.DataFrame, iou_threshold: float = METRICS["iou_threshold"]
) -> dict:
    """CLEAR-MOT and ID metrics computed with motmetrics, matching on mask IoU.

    The distance between a truth and a predicted mask is ``1 - IoU``; pairs with
    ``IoU < iou_threshold`` may not be matched.

    Returns plain ints/floats: ``mota, motp, idf1, idp, idr, id_switches, misses, false_positives,
    num_objects, num_predictions, precision, recall, mostly_tracked, partially_tracked,
    mostly_lost, fragmentations, num_frames``. ``motp`` follows motmetrics: the mean *distance*
    ``1 - IoU`` over matches (0 is perfect).
    """
    return _mot(_pair_frames(pred, truth), iou_threshold)


# ----------------------------------------------------------------------------------------------
# HOTA
# ----------------------------------------------------------------------------------------------


def _hota(frames: list[_Frame]) -> dict:
    """HOTA following TrackEval's ``HOTA.eval_sequence`` (Luiten et al., IJCV 2021)."""
    n_alpha = len(HOTA_ALPHAS)
    n_truth_dets = sum(len(fr.truth_ids) for fr in frames)
    n_pred_dets = sum(len(fr.pred_ids) for fr in frames)
    if n_truth_dets == 0 or n_pred_dets == 0:
        # Nothing can be matched. TrackEval reports HOTA = DetA = AssA = 0 and LocA = 1 here.
        return {"hota": 0.0, "deta": 0.0, "assa": 0.0, "loca": 1.0}

    t_index = _id_index(frames, "truth_ids")
    p_index = _id_index(frames, "pred_ids")
    idx = [
        (
            np.array([t_index[i] for i in fr.truth_ids], dtype=int),
            np.array([p_index[i] for i in fr.pred_ids], dtype=int),
        )
        for fr in frames
    ]

    # Pass 1: global alignment between every truth id and every predicted id. Each frame adds a
    # soft, IoU-weighted match count, normalised so that one detection contributes at most 1.
    potential = np.zeros((len(t_index), len(p_index)))
    truth_count = np.zeros(len(t_index))
    pred_count = np.zeros(len(p_index))
    for fr, (ti, pi) in zip(frames, idx, strict=True):
        sim = fr.iou
        if sim.size:
            denom = sim.sum(0)[np.newaxis, :] + sim.sum(1)[:, np.newaxis] - sim
            sim_iou = np.zeros_like(sim)
            ok = denom > _EPS
            sim_iou[ok] = sim[ok] / denom[ok]
            potential[np.ix_(ti, pi)] += sim_iou
        truth_count[ti] += 1
        pred_count[pi] += 1
    global_alignment = potential / (truth_count[:, None] + pred_count[None, :] - potential)

    # Pass 2: per frame, one Hungarian matching maximising alignment x similarity; a matched pair
    # counts as a true positive at every alpha its similarity reaches.
    tp = np.zeros(n_alpha)
    fn = np.zeros(n_alpha)
    fp = np.zeros(n_alpha)
    loc = np.zeros(n_alpha)
    matches = np.zeros((n_alpha, len(t_index), len(p_index)))
    for fr, (ti, pi) in zip(frames, idx, strict=True):
        n_t, n_p = len(ti), len(pi)
        if n_t == 0 or n_p == 0:
            fn += n_t
            fp += n_p
            continue
        score = global_alignment[np.ix_(ti, pi)] * fr.iou
        rows, cols = linear_sum_assignment(-score)
        sim = fr.iou[rows, cols]
        for a, alpha in enumerate(HOTA_ALPHAS):
            ok = sim >= alpha - _EPS
            n = int(ok.sum())
            tp[a] += n
            fn[a] += n_t - n
            fp[a] += n_p - n
            if n:
                loc[a] += sim[ok].sum()
                matches[a, ti[rows[ok]], pi[cols[ok]]] += 1

    # Association: for each matched (truth id, predicted id) pair, TPA / (TPA + FNA + FPA),
    # averaged over all true positives.
    union = truth_count[None, :, None] + pred_count[None, None, :] - matches
    ass_iou = matches / np.maximum(1, union)
    assa = (matches * ass_iou).sum(axis=(1, 2)) / np.maximum(1, tp)
    deta = tp / np.maximum(1, tp + fn + fp)
    loca = np.maximum(1e-10, loc) / np.maximum(1e-10, tp)
    hota_alpha = np.sqrt(deta * assa)
    return {
        "hota": float(hota_alpha.mean()),
        "deta": float(deta.mean()),
        "assa": float(assa.mean()),
        "loca": float(loca.mean()),
    }


def hota(pred: pd.DataFrame, truth: pd.DataFrame) -> dict:
    """Higher Order Tracking Accuracy (HOTA) with mask IoU as similarity.

    Follows TrackEval's reference implementation:

    1. Over all frames, accumulate for every (truth id, predicted id) pair a soft match count
       (IoU normalised by the rows' and columns' total similarity) and derive the *global
       alignment score* ``potential / (n_truth_id + n_pred_id - potential)``.
    2. Per frame, match truth to predictions once with the Hungarian algorithm, maximising
       ``global_alignment * IoU`` (favouring pairs that are consistent across the video, then
       pairs that overlap well). For each ``alpha`` in ``0.05, 0.10, ..., 0.95`` a matched pair is
       a true positive if its IoU >= alpha; the rest are misses (FN) and false positives (FP).
    3. Per alpha: ``DetA = TP / (TP + FN + FP)``; ``AssA`` = mean over true positives of the
       association IoU ``TPA / (TPA + FNA + FPA)`` of its (truth id, predicted id) pair;
       ``HOTA_alpha = sqrt(DetA * AssA)``; ``LocA`` = mean IoU of the true positives.

    Returns the means over the alphas: ``hota, deta, assa, loca``. As in TrackEval, ``LocA`` of an
    alpha without any true positive counts as 1, and if either table is empty HOTA = DetA =
    AssA = 0, LocA = 1.
    """
    return _hota(_pair_frames(pred, truth))


# ----------------------------------------------------------------------------------------------
# Identity accuracy
# ----------------------------------------------------------------------------------------------


def _identity(frames: list[_Frame], iou_threshold: float) -> dict:
    matched = correct = truth_count = 0
    for fr in frames:
        truth_count += len(fr.truth_ids)
        if fr.iou.size == 0:
            continue
        rows, cols = linear_sum_assignment(-fr.iou)
        for r, c in zip(rows, cols, strict=True):
            if fr.iou[r, c] >= iou_threshold - _EPS:
                matched += 1
                correct += fr.truth_ids[r] == fr.pred_ids[c]
    return {
        "identity_accuracy": correct / matched if matched else float("nan"),
        "matched": matched,
        "truth_count": truth_count,
    }


def identity_accuracy(
    pred: pd.DataFrame, truth: pd.DataFrame, iou_threshold: float = METRICS["iou_threshold"]
) -> dict:
    """Fraction of detections that carry the right identity.

    Per frame, predictions are matched to truth by mask IoU with the Hungarian algorithm,
    ignoring identities; pairs with IoU >= ``iou_threshold`` count as matched. Returns
    ``identity_accuracy`` (matched pairs whose predicted identity equals the true identity, over
    all matched pairs; nan if none matched), ``matched`` and ``truth_count`` (all truth rows).
    """
    return _identity(_pair_frames(pred, truth), iou_threshold)


# ----------------------------------------------------------------------------------------------
# Everything at once
# ----------------------------------------------------------------------------------------------


def evaluate_tracks(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    iou_threshold: float = METRICS["iou_threshold"],
    frames: Iterable[int] | None = None,
    *,
    match: str = "mask",
    gate: float = METRICS["gate_px"],
) -> dict:
    """MOT metrics, HOTA and identity accuracy in one flat dict.

    ``frames`` restricts both tables to those frame numbers (e.g. the annotated frames, so that
    predictions on unannotated frames are not counted as false positives). Similarities are
    computed once and shared by all metrics. ``match="centroid"`` matches on centroid distance
    with a ``gate`` in pixels instead of mask IoU (then ``iou_threshold`` is not used, and
    ``motp`` is the mean ``d / gate`` of the matches).
    """
    paired = _pair_frames(pred, truth, frames, match, gate)
    threshold = iou_threshold if match == "mask" else _CENTROID_MIN_SIM
    return {
        **_mot(paired, threshold),
        **_hota(paired),
        **_identity(paired, threshold),
    }
