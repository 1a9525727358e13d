"""Tracking and detection metrics: CLEAR-MOT/ID (motmetrics), HOTA, identity accuracy, COCO AP.

Predicted tracks and ground truth are both track tables (:mod:`ethoflow.tracktable`); ground truth
rows carry ``source == "truth"``. On both sides the ``identity`` string is the track id: for
predictions it is the hypothesis id, for truth the object id. Similarity between a prediction and
a truth row is **mask IoU** (:func:`ethoflow.masks.iou_matrix`) by default. Where the truth has no
masks, only points (keypoint labels from SLEAP or DeepLabCut: the centroid of an animal's visible
keypoints), pass ``match="centroid"`` and a gate in pixels: the similarity is then
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

import contextlib
import io
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass

import motmetrics as mm
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ethoflow.io import atomic_path
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T

log = logging.getLogger(__name__)

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
    gate: float = 50.0,
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


def mot_metrics(pred: pd.DataFrame, truth: pd.DataFrame, iou_threshold: float = 0.5) -> dict:
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


def identity_accuracy(pred: pd.DataFrame, truth: pd.DataFrame, iou_threshold: float = 0.5) -> dict:
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
    iou_threshold: float = 0.5,
    frames: Iterable[int] | None = None,
    *,
    match: str = "mask",
    gate: float = 50.0,
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


def evaluate_split(
    pred: pd.DataFrame,
    truth: pd.DataFrame,
    labelled_frames: Iterable[int],
    **kw,
) -> dict[str, dict]:
    """:func:`evaluate_tracks` over all frames, over the labelled (training) frames only and over
    the rest: ``{"all": ..., "labelled": ..., "unlabelled": ...}``. Frames are those of the truth;
    a part without frames gets ``None``."""
    labelled = {int(f) for f in labelled_frames}
    truth_frames = {int(f) for f in truth["frame"].unique()}
    parts = {
        "all": truth_frames,
        "labelled": truth_frames & labelled,
        "unlabelled": truth_frames - labelled,
    }
    return {
        name: (evaluate_tracks(pred, truth, frames=sorted(fr), **kw) if fr else None)
        for name, fr in parts.items()
    }


# ----------------------------------------------------------------------------------------------
# COCO detection / segmentation AP
# ----------------------------------------------------------------------------------------------


def _gt_with_defaults(gt_coco: dict) -> dict:
    """Shallow copy of a COCO ground-truth dict with ``iscrowd`` and ``area`` filled in."""
    anns = []
    for ann in gt_coco.get("annotations", []):
        ann = dict(ann)
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            seg = ann.get("segmentation")
            if isinstance(seg, dict):
                ann["area"] = M.area(seg)
            else:
                ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
        anns.append(ann)
    return {**gt_coco, "annotations": anns}


def coco_eval(gt_coco: dict, detections: list[dict], iou_type: str = "segm") -> dict:
    """COCO mean average precision of ``detections`` against ``gt_coco`` (both in memory).

    ``gt_coco`` is a COCO dataset dict (``images``, ``annotations``, ``categories``; mask
    segmentations as RLE with ``counts`` str or bytes, or polygons). ``detections`` is a list of
    ``{image_id, category_id, score, bbox: [x, y, w, h], segmentation: {size, counts}}``;
    ``iou_type`` is ``"bbox"`` or ``"segm"``.

    Returns ``ap`` (AP@[.5:.95]), ``ap50``, ``ap75`` and ``ap_<category name>`` for every
    category (AP@[.5:.95], all areas, 100 detections). Without detections AP is 0 where there is
    ground truth; AP without any ground truth is undefined (nan). pycocotools' console output
    goes to the debug log.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', not {iou_type!r}")
    categories = sorted(gt_coco.get("categories", []), key=lambda c: c["id"])
    cat_keys = {c["id"]: f"ap_{c['name']}" for c in categories}

    if not detections:
        has_gt = {a["category_id"] for a in gt_coco.get("annotations", [])}
        value = 0.0 if has_gt else float("nan")
        out = {"ap": value, "ap50": value, "ap75": value}
        out.update({key: 0.0 if cid in has_gt else float("nan") for cid, key in cat_keys.items()})
        return out

    image_ids = {img["id"] for img in gt_coco.get("images", [])}
    unknown = {d["image_id"] for d in detections} - image_ids
    if unknown:
        raise ValueError(f"detections refer to images not in the ground truth: {sorted(unknown)}")

    dets = []
    for d in detections:
        d = dict(d)  # loadRes writes id/area/iscrowd into the dicts
        if iou_type == "segm":
            # Without a box, loadRes takes area and box from the mask rather than the box.
            d.pop("bbox", None)
        dets.append(d)

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gt = COCO()
        gt.dataset = _gt_with_defaults(gt_coco)
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("pycocotools (%s):\n%s", iou_type, buf.getvalue())

    def mean_ap(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    # precision: [iou thresholds, recall points, categories, area ranges, max dets]
    precision = ev.eval["precision"]
    iou_thrs = ev.params.iouThrs
    all_area, max_dets = 0, len(ev.params.maxDets) - 1
    out = {
        "ap": mean_ap(precision[:, :, :, all_area, max_dets]),
        "ap50": mean_ap(precision[np.isclose(iou_thrs, 0.5), :, :, all_area, max_dets]),
        "ap75": mean_ap(precision[np.isclose(iou_thrs, 0.75), :, :, all_area, max_dets]),
    }
    for k, cid in enumerate(ev.params.catIds):
        out[cat_keys[cid]] = mean_ap(precision[:, :, k, all_area, max_dets])
    return out


# ----------------------------------------------------------------------------------------------
# Summary table
# ----------------------------------------------------------------------------------------------


_TEXT_COLUMNS = ("model", "video", "kind", "match")


def write_summary(
    rows: list[dict], csv_path: str | os.PathLike, parquet_path: str | os.PathLike
) -> pd.DataFrame:
    """Write metric rows as CSV and Parquet (each atomically); columns ``model, video, ...``.

    A metric column holding numbers and None (a metric that is undefined for some rows, or for
    all of them: identity accuracy without a single match) is float64 with NaN, so the Parquet
    schema does not depend on which rows happen to be there."""
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c in _TEXT_COLUMNS or df[c].dtype != object:
            continue
        values = df[c].tolist()
        if all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        ):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    first = [c for c in ("model", "video") if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(parquet_path) as tmp:
        df.to_parquet(tmp, index=False)
    return df


SUMMARY_METRICS = [
    "mota",
    "idf1",
    "hota",
    "deta",
    "assa",
    "id_switches",
    "identity_accuracy",
    "misses",
    "false_positives",
    "precision",
    "recall",
    "motp",
]


def _infer_columns(stats: dict) -> dict:
    """Track-table statistics -> ``infer_frames, infer_seconds, infer_fps`` (None if unknown)."""
    try:
        frames, seconds = int(stats["infer_frames"]), float(stats["infer_seconds"])
    except (KeyError, TypeError, ValueError):
        return {"infer_frames": None, "infer_seconds": None, "infer_fps": None}
    fps = frames / seconds if math.isfinite(seconds) and seconds > 0 else None
    return {"infer_frames": frames, "infer_seconds": seconds, "infer_fps": fps}


def summary_rows(
    coco_files: list,
    track_files: list,
    video_metric_files: list,
    models: list[str],
    videos: list[str],
    labelled: list[str],
    pairs: list[tuple[str, str]] | None = None,
) -> list[dict]:
    """One row per tracker x video from the per-model COCO and per-video tracking metrics.

    ``pairs`` lists the (tracker, video) rows, trackers being the trained ``models`` and the
    baselines beside them (the classical tracker, other tools' output); default: every model x
    every video. ``kind`` says which: ``model``, ``classical`` or ``external``.

    ``infer_frames``, ``infer_seconds`` and ``infer_fps`` (frames / seconds) come from the track
    table's schema metadata (:func:`ethoflow.tracktable.read_stats`); None when it has none.
    Per-part metrics (``{metric}_{labelled|unlabelled|touching}``) come from
    :func:`evaluate_video`. Without truth, ``detection_rate`` (frames where an identity is
    detected, mean over identities) and ``area_cv`` (coefficient of variation of each identity's
    mask area, mean over identities) still describe the tracks.
    """
    from pathlib import Path

    import pyarrow.parquet as pq

    from ethoflow.io import read_json
    from ethoflow.io.tracktable import read_stats

    coco = {}
    for f in coco_files:
        d = read_json(f)
        coco[d["model"]] = d
    per_video = {}
    for f in video_metric_files:
        d = read_json(f)
        per_video[(d["model"], d["video"])] = d
    rows_count = {}
    infer = {}
    shape = {}
    for f in track_files:
        # results/tracks/{tracker}/{video}.parquet
        key = (Path(f).parent.name, Path(f).stem)
        t = pq.read_table(f, columns=["frame", "identity", "area", "source"]).to_pandas()
        rows_count[key] = (len(t), int((t["source"] == "interpolated").sum()))
        infer[key] = read_stats(f)
        shape[key] = _track_shape(t)
    if pairs is None:
        pairs = [(m, v) for m in models for v in videos]
    rows = []
    for m, v in pairs:
        c = coco.get(m, {})
        kind = "model" if m in models else ("classical" if m == "classical" else "external")
        row = {"model": m, "video": v, "kind": kind, "labelled": v in labelled}
        for k in ("bbox_ap", "bbox_ap50", "segm_ap", "segm_ap50"):
            row[f"coco_{k}"] = c.get(k)
        vm = per_video.get((m, v), {})
        row["has_truth"] = bool(vm)
        row["match"] = vm.get("match")
        for k in SUMMARY_METRICS:
            row[k] = vm.get(k)
        for part in ("labelled", "unlabelled", "touching"):
            row[f"frames_{part}"] = vm.get(f"frames_{part}")
            for k in PART_METRICS:
                row[f"{k}_{part}"] = vm.get(f"{k}_{part}")
        n, n_interp = rows_count.get((m, v), (0, 0))
        row["track_rows"] = n
        row["interpolated_rows"] = n_interp
        row.update(shape.get((m, v), {"detection_rate": None, "area_cv": None}))
        row.update(_infer_columns(infer.get((m, v), {})))
        for k in ("train_seconds", "parameters", "checkpoint_bytes"):
            row[k] = c.get(k)
        rows.append(row)
    return rows


def _track_shape(t: pd.DataFrame) -> dict:
    """Truth-free description of a track table: ``detection_rate`` (detected identity-frames
    over identities x frames spanned) and ``area_cv`` (std / mean of each identity's detected
    mask area, mean over identities; None without masks)."""
    det = t[t["source"] == "detected"]
    if not len(t) or not len(det):
        return {"detection_rate": 0.0 if len(t) else None, "area_cv": None}
    n_frames = int(t["frame"].max()) - int(t["frame"].min()) + 1
    ids = t["identity"].unique()
    rate = len(det) / (n_frames * len(ids))
    cvs = []
    for _, g in det.groupby("identity"):
        a = g["area"].to_numpy(float)
        if len(a) > 1 and a.mean() > 0:
            cvs.append(float(a.std() / a.mean()))
    return {"detection_rate": float(rate), "area_cv": float(np.mean(cvs)) if cvs else None}


# ----------------------------------------------------------------------------------------------
# One video: all frames, labelled vs unlabelled frames, frames where animals touch
# ----------------------------------------------------------------------------------------------

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
    iou_threshold: float = 0.5,
    match: str = "mask",
    gate: float = 50.0,
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
