"""The per-frame baseline (SimBA-like): gradient-boosted trees on the same feature columns.

sklearn's ``HistGradientBoostingClassifier`` (``class_weight="balanced"``; missing features stay
``NaN``, which the trees route natively, plus the 0/1 missing channel): one multiclass model over
the behaviours and "none" (exclusive), or one binary model per behaviour (multi-label). Only
scored frames are learnt from; at most ``max_samples`` of them (drawn by seed).

Model file: a pickle of ``{"format": "ethoflow-behaviour-trees", "version": 1, "columns",
"behaviours", "exclusive", "classes", "settings", "models"}``. Pickles run code when loaded:
load only files this pipeline wrote.
"""

from __future__ import annotations

import logging
import os
import pickle
from collections.abc import Sequence as SequenceABC
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from threadpoolctl import threadpool_limits

from ethoflow.behaviour.dataset import Sequence, check_columns, classes_of, labelled
from ethoflow.defaults import BEHAVIOUR
from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

FORMAT = "ethoflow-behaviour-trees"
VERSION = 1
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
    return _classifier(settings, seed).fit(x, target)


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
    if doc.get("version") != VERSION:
        raise EthoflowError(f"{path}: trees file version {doc.get('version')}, expected {VERSION}")
    check_columns(doc["columns"], columns, path)
    return TreesModel(
        doc["models"],
        doc["columns"],
        doc["behaviours"],
        doc["exclusive"],
        doc["settings"],
        source=str(path),
    )
