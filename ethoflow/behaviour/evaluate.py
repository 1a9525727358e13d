"""Scores of behaviour predictions: per-frame precision/recall/F1/AP, confusion, bout matching,
and block cross-validation (out-of-fold predictions).

Conventions: a class that never occurs in the truth has recall, F1 and AP ``NaN`` (precision 0
when it was predicted, else ``NaN``); macro F1 and mAP average the behaviours present in the
truth, the background class ``"none"`` left out. Bout matching: a predicted bout matches an
unmatched true bout of the same video, animal and behaviour at temporal IoU >= ``iou``, greedily
by IoU (ties: earlier true bout, then earlier predicted bout), one to one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Sequence as SequenceABC

import numpy as np
import pandas as pd

from ethoflow.behaviour.dataset import NONE, Sequence
from ethoflow.io import EthoflowError

log = logging.getLogger(__name__)

NAN = float("nan")


def _ratio(a: float, b: float) -> float:
    return float(a / b) if b else NAN


def frame_scores(y_true, probs, y_pred, classes: SequenceABC[str]) -> dict:
    """Per-frame scores of [N, C] 0/1 truth, probabilities and 0/1 predictions.

    Returns ``{"per_class": {class: {precision, recall, f1, ap, support, predicted}},
    "macro_f1", "map", "n_frames"}``."""
    # imported here: steps that never score (features, labels, predictions) skip scikit-learn
    from sklearn.metrics import average_precision_score

    y_true = np.asarray(y_true).astype(bool)
    y_pred = np.asarray(y_pred).astype(bool)
    probs = np.asarray(probs, dtype=float)
    classes = list(classes)
    if not (y_true.shape == y_pred.shape == probs.shape) or y_true.shape[1:] != (len(classes),):
        raise EthoflowError(
            f"frame scores: shapes differ (truth {y_true.shape}, probabilities {probs.shape}, "
            f"predictions {y_pred.shape}, {len(classes)} classes)"
        )
    per = {}
    for k, c in enumerate(classes):
        t, p = y_true[:, k], y_pred[:, k]
        tp = int((t & p).sum())
        support, predicted = int(t.sum()), int(p.sum())
        if support:
            precision = _ratio(tp, predicted) if predicted else 0.0
            recall = tp / support
            f1 = 2 * tp / (support + predicted)
            ap = float(average_precision_score(t, probs[:, k]))
        else:
            precision = 0.0 if predicted else NAN
            recall = f1 = ap = NAN
        per[c] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "ap": ap,
            "support": support,
            "predicted": predicted,
        }
    present = [c for c in classes if c != NONE and per[c]["support"] > 0]
    macro = float(np.mean([per[c]["f1"] for c in present])) if present else NAN
    m_ap = float(np.mean([per[c]["ap"] for c in present])) if present else NAN
    return {"per_class": per, "macro_f1": macro, "map": m_ap, "n_frames": int(len(y_true))}


def confusion(true_labels, pred_labels, classes: SequenceABC[str]) -> pd.DataFrame:
    """Counts, rows the true class (index "true"), columns the predicted class ("predicted")."""
    classes = list(classes)
    index = {c: i for i, c in enumerate(classes)}
    t = pd.Series(np.asarray(true_labels, dtype=object))
    p = pd.Series(np.asarray(pred_labels, dtype=object))
    if len(t) != len(p):
        raise EthoflowError(f"confusion: {len(t)} true labels, {len(p)} predictions")
    unknown = sorted((set(t.unique()) | set(p.unique())) - set(classes), key=str)
    if unknown:
        raise EthoflowError(f"confusion: labels {unknown} are not among the classes {classes}")
    m = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(m, (t.map(index).to_numpy(int), p.map(index).to_numpy(int)), 1)
    return pd.DataFrame(
        m,
        index=pd.Index(classes, name="true"),
        columns=pd.Index(classes, name="predicted"),
    )


BOUT_KEYS = ["video", "animal", "behaviour"]
MATCH_COLUMNS = ["video", "animal", "behaviour", "true_index", "pred_index", "iou"]


def _intervals(df: pd.DataFrame) -> np.ndarray:
    return df[["start_frame", "stop_frame"]].to_numpy(dtype=np.int64)


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    inter = np.minimum(a[:, None, 1], b[None, :, 1]) - np.maximum(a[:, None, 0], b[None, :, 0])
    inter = np.maximum(inter, 0)
    union = (a[:, 1] - a[:, 0])[:, None] + (b[:, 1] - b[:, 0])[None, :] - inter
    return np.divide(inter, union, out=np.zeros(inter.shape), where=union > 0)


def _check_bouts(df: pd.DataFrame, what: str) -> pd.DataFrame:
    lack = [c for c in [*BOUT_KEYS, "start_frame", "stop_frame"] if c not in df]
    if lack:
        raise EthoflowError(f"bout matching: the {what} bout table lacks columns {lack}")
    return df.assign(**{k: df[k].astype(str) for k in BOUT_KEYS})


def bout_matches(true_bouts: pd.DataFrame, pred_bouts: pd.DataFrame, *, iou=0.5) -> pd.DataFrame:
    """One row per matched pair: ``video, animal, behaviour, true_index, pred_index, iou``
    (indices: the bout tables' index labels)."""
    t = _check_bouts(true_bouts, "true")
    p = _check_bouts(pred_bouts, "predicted")
    rows = []
    groups = p.groupby(BOUT_KEYS, sort=True)
    for key, tg in t.groupby(BOUT_KEYS, sort=True):
        try:
            pg = groups.get_group(key)
        except KeyError:
            continue
        ious = _iou_matrix(_intervals(tg), _intervals(pg))
        ti, pi = np.nonzero(ious >= iou - 1e-12)
        order = np.lexsort((pi, ti, -ious[ti, pi]))
        used_t, used_p = set(), set()
        for i, j in zip(ti[order], pi[order]):
            if i in used_t or j in used_p:
                continue
            used_t.add(i)
            used_p.add(j)
            rows.append([*key, tg.index[i], pg.index[j], float(ious[i, j])])
    return pd.DataFrame(rows, columns=MATCH_COLUMNS)


def _prf(n_true: int, n_pred: int, n_match: int) -> dict:
    return {
        "precision": _ratio(n_match, n_pred),
        "recall": _ratio(n_match, n_true),
        "f1": _ratio(2 * n_match, n_true + n_pred),
        "n_true": n_true,
        "n_pred": n_pred,
        "n_matched": n_match,
    }


def bout_f1(
    true_bouts: pd.DataFrame,
    pred_bouts: pd.DataFrame,
    *,
    iou=0.5,
    behaviours: SequenceABC[str] | None = None,
) -> dict:
    """Bout precision/recall/F1 per behaviour, overall (micro over bouts) and macro.

    Returns ``{"per_behaviour": {b: {precision, recall, f1, n_true, n_pred, n_matched}},
    "precision", "recall", "f1", "n_true", "n_pred", "n_matched", "macro_f1"}``; the macro F1
    averages the behaviours with true bouts."""
    m = bout_matches(true_bouts, pred_bouts, iou=iou)
    t = _check_bouts(true_bouts, "true")
    p = _check_bouts(pred_bouts, "predicted")
    if behaviours is None:
        behaviours = sorted(set(t["behaviour"]) | set(p["behaviour"]))
    per = {}
    for b in behaviours:
        per[b] = _prf(
            int((t["behaviour"] == b).sum()),
            int((p["behaviour"] == b).sum()),
            int((m["behaviour"] == b).sum()),
        )
    out = {"per_behaviour": per, **_prf(len(t), len(p), len(m))}
    f1s = [v["f1"] for v in per.values() if v["n_true"] > 0]
    out["macro_f1"] = float(np.mean(f1s)) if f1s else NAN
    return out


def block_folds(n_frames: int, n_blocks: int) -> list[tuple[int, int]]:
    """``n_blocks`` contiguous (start, stop) blocks covering 0..n_frames, sizes within one."""
    if n_blocks < 1:
        raise EthoflowError(f"cross-validation: {n_blocks} blocks (at least 1)")
    edges = np.linspace(0, n_frames, n_blocks + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def cross_validate(
    seqs: SequenceABC[Sequence],
    n_blocks: int,
    fit: Callable[[list[Sequence]], object],
    predict: Callable[[object, list[Sequence]], list[np.ndarray]],
    *,
    gap: int = 0,
) -> list[np.ndarray]:
    """Out-of-fold probabilities, one [T, n_classes] array per sequence.

    Every sequence is cut into ``n_blocks`` contiguous blocks; fold k fits on the pieces before
    and after block k of every sequence (``gap`` more frames each side of the block unscored)
    and predicts block k from the whole sequences (features only). So no frame is predicted by a
    model that learnt its label."""
    if n_blocks < 2:
        raise EthoflowError(f"cross-validation needs at least 2 blocks, not {n_blocks}")
    seqs = list(seqs)
    folds = [block_folds(len(s), n_blocks) for s in seqs]
    out: list[np.ndarray | None] = [None] * len(seqs)
    for k in range(n_blocks):
        train = []
        for s, blocks in zip(seqs, folds):
            a, b = blocks[k]
            for lo, hi in ((0, a), (b, len(s))):
                if hi <= lo:
                    continue
                piece = s.piece(lo, hi)
                near = (np.arange(lo, hi) >= a - gap) & (np.arange(lo, hi) < b + gap)
                if near.any():
                    piece.scored = piece.scored & ~near
                if piece.y is not None and piece.scored.any():
                    train.append(piece)
        if not train:
            raise EthoflowError(f"cross-validation fold {k + 1}: no scored frames to train on")
        model = fit(train)
        probs = predict(model, seqs)
        for i, (s, blocks) in enumerate(zip(seqs, folds)):
            a, b = blocks[k]
            if out[i] is None:
                out[i] = np.full((len(s), probs[i].shape[1]), np.nan, np.float32)
            out[i][a:b] = probs[i][a:b]
        log.info("cross-validation fold %d/%d: trained on %d pieces", k + 1, n_blocks, len(train))
    return out
