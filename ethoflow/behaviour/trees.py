"""The per-frame baseline (SimBA-like): gradient-boosted trees on the same feature columns.

sklearn's ``HistGradientBoostingClassifier`` (``class_weight="balanced"``; missing features stay
``NaN``, which the trees route natively, plus the 0/1 missing channel): one multiclass model over
the behaviours and "none" (exclusive), or one binary model per behaviour (multi-label). Only
scored frames are learnt from; at most ``max_samples`` of them (drawn by seed).

Model file: a pickle of ``{"format": "ethoflow-behaviour-trees", "version": 2, "columns",
"behaviours", "exclusive", "classes", "settings", "models"}`` (version 2: each model a
:class:`BinnedTrees` with its bin edges; version 1 files, plain sklearn models, still load).
Pickles run code when loaded: load only files this pipeline wrote.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.utils.class_weight import compute_sample_weight
from threadpoolctl import threadpool_limits

from ethoflow.behaviour.dataset import Sequence, check_columns, classes_of, labelled
from ethoflow.defaults import BEHAVIOUR
from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

FORMAT = "ethoflow-behaviour-trees"
VERSION = 2  # 2: each model carries its bin edges (BinnedTrees); 1 (raw models) still loads
MAX_BINS = 255  # sklearn's default and maximum
_ALMOST_INF = 1e300  # sklearn's cap on a threshold
_SKLEARN_BIN_SUBSAMPLE = 200_000  # above this many rows sklearn bins a random subsample
PathLike = str | os.PathLike

#: tree settings (the config's ``behaviour.trees`` goes over these).
DEFAULT_TREES = {**BEHAVIOUR["trees"], "threads": None}


def _inputs(seq: Sequence) -> np.ndarray:
    return np.c_[seq.X, seq.missing.astype(np.float32)]


def _classifier(settings: dict, seed: int) -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(
        max_iter=int(settings["max_iter"]),
        learning_rate=float(settings["learning_rate"]),
        max_leaf_nodes=int(settings["max_leaf_nodes"]),
        min_samples_leaf=int(settings["min_samples_leaf"]),
        l2_regularization=float(settings["l2_regularization"]),
        class_weight="balanced",
        early_stopping=False,
        random_state=seed,
    )


def _weighted_quantiles(col: np.ndarray, weight: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """sklearn's weighted percentiles with ``average=True`` (``averaged_inverted_cdf``) of a
    float64 column without NaN and with positive weights, at all ``ranks`` (in %) at once:
    the same sort, cumulative weights, search and averaging, step for step, vectorised over the
    ranks where sklearn loops over them."""
    order = np.argsort(col.reshape(-1, 1), axis=0)[:, 0]  # as sklearn sorts (quicksort)
    cdf = np.cumsum(weight[order])
    adjusted = ranks / 100 * cdf[-1]
    last = len(col) - 1
    at = np.clip(np.searchsorted(cdf, adjusted), 0, last)
    above = (cdf[at] - adjusted) > np.finfo(np.float64).eps
    value, after = col[order[at]], col[order[np.clip(at + 1, 0, last)]]
    return np.where(above, value, (value + after) / 2)


def bin_edges(col: np.ndarray, weight: np.ndarray, max_bins: int = MAX_BINS) -> np.ndarray:
    """The bin thresholds sklearn's ``HistGradientBoosting`` derives for one feature column
    under sample weights (its ``_find_binning_thresholds``), at a fraction of the cost.

    sklearn computes each of the 254 weighted percentiles of a column in a separate call (each
    sorting the column again): with ``class_weight="balanced"`` that was 0.14 s per column, 40 s
    per model on 300 columns. Here the column is sorted once and all percentiles are read off
    its cumulative weights together (tests check the edges against sklearn's own)."""
    col = np.asarray(col, dtype=np.float64)  # sklearn bins in float64
    weight = np.asarray(weight, dtype=np.float64)
    finite = ~np.isnan(col)
    col, weight = col[finite], weight[finite]
    nonzero = weight != 0
    col, weight = col[nonzero], weight[nonzero]
    # sorted here and again in _weighted_quantiles, as sklearn does: equal values keep the
    # order sklearn gives them, so the cumulative weights (and the edges) match its own
    order = np.argsort(col)
    col, weight = col[order], weight[order]
    distinct = np.unique(col)
    if len(distinct) <= 1:
        return np.asarray([], dtype=np.float64)
    if len(distinct) <= max_bins:
        edges = (distinct[:-1] + distinct[1:]) / 2
    else:
        ranks = np.linspace(0, 100, num=max_bins + 1)[1:-1]
        # sorted, duplicates dropped (as sklearn does)
        edges = np.unique(_weighted_quantiles(col, weight, ranks))
    return np.clip(edges, None, _ALMOST_INF)


def apply_bins(x: np.ndarray, edges: SequenceABC[np.ndarray]) -> np.ndarray:
    """Each value as the index of its bin (``edges[i-1] < v <= edges[i]``: bin ``i``); NaN
    stays NaN (the trees' missing-value branch)."""
    out = np.empty(x.shape, np.float32)
    for j, e in enumerate(edges):
        col = x[:, j].astype(np.float64)
        out[:, j] = np.searchsorted(e, col, side="left")
        out[np.isnan(col), j] = np.nan
    return out


class BinnedTrees:
    """A fitted ``HistGradientBoostingClassifier`` over pre-binned inputs, with its edges.

    The trees see each column as bin indices cut at the thresholds sklearn itself would pick
    (:func:`bin_edges`), so its own binning finds nothing to do: the same training bins, the
    same trees, the weighted-quantile search done once per column instead of 254 times."""

    def __init__(self, model: HistGradientBoostingClassifier, edges: list[np.ndarray]):
        self.model = model
        self.edges = edges

    @property
    def classes_(self):
        return self.model.classes_

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(apply_bins(x, self.edges))


def _fit_one(x: np.ndarray, target: np.ndarray, n_classes: int, settings: dict, seed: int):
    """A fitted classifier, or the constant class distribution when one class is all there is."""
    present = np.unique(target)
    if len(present) < 2:
        const = np.zeros(n_classes, np.float32)
        const[int(present[0]) if len(present) else 0] = 1.0
        return {"constant": const}
    # a feature never seen (e.g. a window longer than the labelled stretch) carries nothing:
    # HistGradientBoosting cannot bin an all-NaN column, so it is held at 0 for the fit
    x = np.where(np.isfinite(x).any(axis=0), x, 0.0)
    if len(x) > _SKLEARN_BIN_SUBSAMPLE:  # sklearn's own binning of a subsample: left to it
        return _classifier(settings, seed).fit(x, target)
    weight = compute_sample_weight("balanced", target)  # what class_weight="balanced" gives
    edges = [bin_edges(x[:, j], weight) for j in range(x.shape[1])]
    return BinnedTrees(_classifier(settings, seed).fit(apply_bins(x, edges), target), edges)


def _proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    if isinstance(model, dict):
        return np.tile(model["constant"], (len(x), 1))
    out = np.zeros((len(x), n_classes), np.float32)
    if len(x):
        out[:, model.classes_.astype(int)] = model.predict_proba(x)
    return out


class TreesModel:
    """Fitted trees: ``predict(seqs)`` -> per sequence [T, n_classes] probabilities."""

    def __init__(self, models, columns, behaviours, exclusive, settings, source=""):
        self.models = list(models)
        self.columns = list(columns)
        self.behaviours = list(behaviours)
        self.exclusive = bool(exclusive)
        self.classes = classes_of(self.behaviours, self.exclusive)
        self.settings = dict(settings)
        self.source = source
        self.history = None

    def predict(self, seqs: SequenceABC[Sequence]) -> list[np.ndarray]:
        threads = self.settings.get("threads")
        with threadpool_limits(limits=int(threads) if threads else None):
            return [self._predict_one(s) for s in seqs]

    def _predict_one(self, s: Sequence) -> np.ndarray:
        if s.X.shape[1] != len(self.columns):
            raise EthoflowError(
                f"{s.video} {s.animal}: {s.X.shape[1]} feature columns, the trees expect "
                f"{len(self.columns)}"
            )
        x = _inputs(s)
        if self.exclusive:
            return _proba(self.models[0], x, len(self.classes))
        cols = [_proba(m, x, 2)[:, 1] for m in self.models]
        return np.stack(cols, axis=1).astype(np.float32).reshape(len(x), -1)


def fit_trees(
    seqs: SequenceABC[Sequence],
    *,
    columns: SequenceABC[str],
    behaviours: SequenceABC[str],
    exclusive: bool,
    settings: dict | None = None,
    seed: int = 0,
) -> TreesModel:
    """Fit the per-frame trees on the scored frames of ``seqs``."""
    s = {**DEFAULT_TREES, **(settings or {})}
    seqs = labelled(seqs)
    if not seqs:
        raise EthoflowError("tree training: no sequence has scored frames")
    x = np.concatenate([_inputs(q)[q.scored] for q in seqs])
    y = np.concatenate([q.y[q.scored] for q in seqs])
    if x.shape[1] != len(columns) + 1:
        raise EthoflowError("tree training: sequences do not match the columns given")
    n_max = int(s["max_samples"])
    if n_max and len(x) > n_max:
        keep = np.sort(np.random.default_rng(seed).choice(len(x), n_max, replace=False))
        x, y = x[keep], y[keep]
    classes = classes_of(behaviours, exclusive)
    with threadpool_limits(limits=int(s["threads"]) if s["threads"] else None):
        if exclusive:
            models = [_fit_one(x, y.argmax(axis=1), len(classes), s, seed)]
        else:
            models = [_fit_one(x, y[:, k].astype(int), 2, s, seed) for k in range(len(classes))]
    log.info("trees: fitted %d model(s) on %d frames x %d columns", len(models), *x.shape)
    return TreesModel(models, columns, behaviours, exclusive, s)


def save_trees(model: TreesModel, dest: PathLike) -> None:
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "columns": model.columns,
        "behaviours": model.behaviours,
        "exclusive": model.exclusive,
        "classes": model.classes,
        "settings": model.settings,
        "models": model.models,
    }
    with atomic_path(dest) as tmp, open(tmp, "wb") as fh:
        pickle.dump(doc, fh, protocol=pickle.HIGHEST_PROTOCOL)


def load_trees(path: PathLike, columns: SequenceABC[str] | None = None) -> TreesModel:
    """Trees from a model file this pipeline wrote; ``columns`` are checked against its schema."""
    path = Path(path)
    if not path.exists():
        raise EthoflowError(f"{path}: trees model file not found")
    try:
        with open(path, "rb") as fh:
            doc = pickle.load(fh)
    except Exception as e:
        raise EthoflowError(f"{path}: not a loadable trees model file ({e})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise EthoflowError(f"{path}: not an ethoflow behaviour trees file (no {FORMAT!r})")
    if doc.get("version") not in (1, VERSION):
        raise EthoflowError(
            f"{path}: trees file version {doc.get('version')}, expected 1 or {VERSION}"
        )
    check_columns(doc["columns"], columns, path)
    return TreesModel(
        doc["models"],
        doc["columns"],
        doc["behaviours"],
        doc["exclusive"],
        doc["settings"],
        source=str(path),
    )
