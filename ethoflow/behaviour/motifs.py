"""Unsupervised motifs, B-SOiD-like: window features -> UMAP -> HDBSCAN -> a classifier.

:func:`fit_motifs` standardizes the features (mean and standard deviation over every frame, NaN
ignored; NaN becomes 0, the mean, after scaling), draws a bounded random sample of the frames
that have any feature, embeds the sample with UMAP, clusters the embedding with HDBSCAN (noise
is -1) and fits a random forest on the sample's clustered frames in feature space. Assignment
(:func:`assign`) is that forest's prediction: every frame gets a motif, and no UMAP transform is
needed (it is the slow part). Motifs are numbered by size in the sample, 0 the largest.

Everything is deterministic by ``seed`` (sampling, UMAP, the forest).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
FORMAT = "ethoflow.motifs"
VERSION = 1


@dataclass
class MotifModel:
    """A fitted motif model: the scaling, the sample's embedding and clusters, the classifier."""

    mean: np.ndarray
    scale: np.ndarray
    classifier: object
    n_motifs: int
    sample_index: np.ndarray  # rows of the fitting matrix that were sampled
    embedding: np.ndarray  # [n_sample, n_components] UMAP embedding of the sample
    sample_labels: np.ndarray  # HDBSCAN labels of the sample (-1: noise)
    settings: dict = field(default_factory=dict)
    fit_seconds: dict = field(default_factory=dict)

    def standardize(self, X: np.ndarray, fill: bool = True) -> np.ndarray:
        z = (np.asarray(X, dtype=np.float64) - self.mean) / self.scale
        if fill:
            z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        return z.astype(np.float32)


def _scaling(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    finite = np.where(np.isfinite(X), X, np.nan)
    with np.errstate(all="ignore"), _quiet():
        mean = np.nanmean(finite, axis=0)
        scale = np.nanstd(finite, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    scale = np.where(np.isfinite(scale) & (scale > 1e-12), scale, 1.0)
    return mean, scale


@contextlib.contextmanager
def _quiet():
    """Silence numpy's "mean of empty slice" warnings (all-NaN columns are expected)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def fit_motifs(
    X: np.ndarray,
    *,
    sample: int = 20000,
    seed: int = 0,
    n_neighbors: int = 30,
    min_dist: float = 0.0,
    n_components: int = 2,
    min_cluster_share: float = 0.01,
    min_samples: int | None = None,
    n_trees: int = 60,
    n_jobs: int = 2,
) -> MotifModel:
    """Fit motifs on ``X`` ``[N, F]`` window features (NaN allowed).

    ``sample``: at most this many frames (with any finite feature) are embedded and clustered.
    ``min_cluster_share``: HDBSCAN's smallest cluster as a share of the sample (at least 5
    frames). ``n_trees``/``n_jobs``: the assigning random forest.
    """
    import umap
    from sklearn.cluster import HDBSCAN
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.neighbors import NearestNeighbors

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] == 0:
        raise EthoflowError(f"motifs: features must be [frames, features], got shape {X.shape}")
    usable = np.flatnonzero(np.isfinite(X).any(axis=1))
    if len(usable) < max(10, n_neighbors + 1):
        raise EthoflowError(
            f"motifs: {len(usable)} frames with features, need at least {max(10, n_neighbors + 1)}"
        )
    times = {}
    t0 = time.perf_counter()
    mean, scale = _scaling(X)
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(usable, size=min(int(sample), len(usable)), replace=False))
    z = np.nan_to_num((X[idx] - mean) / scale, nan=0.0, posinf=0.0, neginf=0.0)
    z = z.astype(np.float32)
    k = int(min(n_neighbors, len(idx) - 1))
    # exact neighbours (brute force on the bounded sample): faster than UMAP's own NN-descent
    # once its numba compile is counted, and the same on every run
    dist, ind = NearestNeighbors(n_neighbors=k).fit(z).kneighbors(z)
    reducer = umap.UMAP(
        n_neighbors=k,
        min_dist=float(min_dist),
        n_components=int(n_components),
        random_state=int(seed),
        n_jobs=1,
        precomputed_knn=(ind, dist, None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # n_jobs with random_state; no transform
        emb = reducer.fit_transform(z).astype(np.float32)
    times["umap"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    mcs = max(5, int(round(min_cluster_share * len(idx))))
    raw = HDBSCAN(min_cluster_size=mcs, min_samples=min_samples, copy=True).fit_predict(emb)
    labels = _by_size(raw)
    times["hdbscan"] = time.perf_counter() - t1
    n_motifs = int(labels.max()) + 1 if (labels >= 0).any() else 0
    if n_motifs == 0:
        log.warning("motifs: HDBSCAN found no cluster in %d frames: one motif", len(idx))
        labels = np.zeros(len(idx), dtype=np.int64)
        n_motifs = 1
    t2 = time.perf_counter()
    keep = labels >= 0
    clf = RandomForestClassifier(
        n_estimators=int(n_trees),
        min_samples_leaf=2,
        max_features="sqrt",
        n_jobs=n_jobs,
        random_state=int(seed),
    )
    clf.fit(z[keep], labels[keep])
    times["classifier"] = time.perf_counter() - t2
    times["total"] = time.perf_counter() - t0
    log.info(
        "motifs: %d motifs from %d sampled frames (%.0f%% noise) in %.1f s",
        n_motifs,
        len(idx),
        100 * (1 - keep.mean()),
        times["total"],
    )
    settings = dict(
        sample=int(sample),
        seed=int(seed),
        n_neighbors=int(n_neighbors),
        min_dist=float(min_dist),
        n_components=int(n_components),
        min_cluster_size=mcs,
        min_samples=min_samples,
        n_trees=int(n_trees),
    )
    return MotifModel(mean, scale, clf, n_motifs, idx, emb, labels, settings, times)


def _by_size(raw: np.ndarray) -> np.ndarray:
    """Relabel clusters 0.. by decreasing size (ties: the old label); noise stays -1."""
    out = np.full(len(raw), -1, dtype=np.int64)
    ids, counts = np.unique(raw[raw >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    for new, old in enumerate(order):
        out[raw == old] = new
    return out


def assign(model: MotifModel, X: np.ndarray, batch: int = 200_000) -> np.ndarray:
    """Every frame's motif (int64, 0..n_motifs-1), by the model's classifier."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[1] != len(model.mean):
        raise EthoflowError(
            f"motifs: features of shape {X.shape}, the model has {len(model.mean)} features"
        )
    out = np.zeros(len(X), dtype=np.int64)
    for a in range(0, len(X), batch):
        out[a : a + batch] = model.classifier.predict(model.standardize(X[a : a + batch]))
    return out


# --------------------------------------------------------------------------------------------
# summaries


def usage(labels: np.ndarray, n_motifs: int) -> np.ndarray:
    """Share of the frames in each motif (labels < 0 left out); zeros without frames."""
    labels = np.asarray(labels, dtype=np.int64)
    labels = labels[(labels >= 0) & (labels < n_motifs)]
    counts = np.bincount(labels, minlength=n_motifs).astype(np.float64)
    return counts / counts.sum() if counts.sum() else counts


def _sequences(labels) -> list[np.ndarray]:
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        return [labels]
    return [np.asarray(x) for x in labels]


def transitions(labels_per_sequence, n_motifs: int) -> np.ndarray:
    """Row-normalised ``[n_motifs, n_motifs]`` matrix: from each motif, the share of changes to
    each next (different) motif. Rows of motifs never left are zeros. Accepts one sequence or a
    list of sequences (no transition across sequences)."""
    counts = np.zeros((n_motifs, n_motifs), dtype=np.float64)
    for seq in _sequences(labels_per_sequence):
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < 2:
            continue
        change = np.flatnonzero(seq[1:] != seq[:-1])
        a, b = seq[change], seq[change + 1]
        ok = (a >= 0) & (b >= 0) & (a < n_motifs) & (b < n_motifs)
        np.add.at(counts, (a[ok], b[ok]), 1)
    rows = counts.sum(axis=1, keepdims=True)
    return np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)


def mean_durations(labels, fps: float, n_motifs: int | None = None) -> np.ndarray:
    """Mean length (s) of the runs of each motif; NaN for motifs that never occur. One sequence
    or a list of sequences (runs do not cross sequences)."""
    seqs = _sequences(labels)
    if n_motifs is None:
        n_motifs = max((int(np.max(s)) + 1 for s in seqs if len(s)), default=0)
    total = np.zeros(n_motifs)
    count = np.zeros(n_motifs)
    for seq in seqs:
        seq = np.asarray(seq, dtype=np.int64)
        if not len(seq):
            continue
        starts = np.r_[0, np.flatnonzero(seq[1:] != seq[:-1]) + 1]
        lengths = np.diff(np.r_[starts, len(seq)])
        vals = seq[starts]
        ok = (vals >= 0) & (vals < n_motifs)
        np.add.at(total, vals[ok], lengths[ok])
        np.add.at(count, vals[ok], 1)
    with np.errstate(all="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1) / float(fps), np.nan)


def profiles(
    model: MotifModel, X: np.ndarray, labels: np.ndarray, columns: Sequence[str]
) -> pd.DataFrame:
    """Per motif (rows, 0..n_motifs-1) the mean z-score of each feature (columns; NaN left
    out)."""
    z = model.standardize(X, fill=False).astype(np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    out = np.full((model.n_motifs, z.shape[1]), np.nan)
    with _quiet():
        for m in range(model.n_motifs):
            sel = labels == m
            if sel.any():
                out[m] = np.nanmean(z[sel], axis=0)
    return pd.DataFrame(
        out, index=pd.RangeIndex(model.n_motifs, name="motif"), columns=list(columns)
    )


def motif_label_ami(motifs: np.ndarray, behaviour_labels: np.ndarray) -> float:
    """Adjusted mutual information between motifs and behaviour labels (any hashable labels)."""
    from sklearn.metrics import adjusted_mutual_info_score

    motifs = np.asarray(motifs)
    beh = np.asarray(behaviour_labels).astype(str)
    if len(motifs) != len(beh):
        raise ValueError(f"{len(motifs)} motif labels against {len(beh)} behaviour labels")
    if not len(motifs):
        return float("nan")
    return float(adjusted_mutual_info_score(beh, motifs))


# --------------------------------------------------------------------------------------------
# storage


def save_motifs(model: MotifModel, dest: PathLike) -> None:
    """Pickle of the model behind a format header (our own output, read by :func:`load_motifs`)."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            pickle.dump({"format": FORMAT, "version": VERSION, "model": model}, f, protocol=4)


def load_motifs(path: PathLike) -> MotifModel:
    try:
        with open(Path(path), "rb") as f:
            obj = pickle.load(f)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError) as e:
        raise EthoflowError(f"{path}: not a readable motif model ({e})") from e
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise EthoflowError(f"{path}: not an ethoflow motif model (no {FORMAT!r} header)")
    if obj.get("version") != VERSION:
        raise EthoflowError(
            f"{path}: motif model version {obj.get('version')}, this ethoflow reads {VERSION}"
        )
    return obj["model"]
