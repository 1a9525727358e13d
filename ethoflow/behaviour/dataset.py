"""Feature table + frame label table -> per-(video, animal) sequences for the classifiers.

A :class:`Sequence` is one animal in one video, frames in order: its raw feature matrix ``X``
(``NaN`` where the features are missing, never invented), its targets ``y`` (one column per
class) and the ``scored`` mask (frames without a label row, or outside a scored span, are kept
out of every loss and score). Classes: exclusive mode, the behaviours and ``"none"`` (no
behaviour on); multi-label mode, the behaviours.

:class:`Standardizer` is fitted on the training sequences (mean/std per column, ``NaN``
ignored) and turns ``X`` into the network input: scaled features with ``NaN`` -> 0, plus one 0/1
"missing" channel (the frame's status is ``missing``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from ethoflow.io import EthoflowError

log = logging.getLogger(__name__)

NONE = "none"


def auxiliary_groups(
    auxiliary: Mapping | None,
    behaviours: SequenceABC[str],
    exclusive: bool,
    where: str = "behaviour.tcn.auxiliary",
) -> dict[str, list[int]]:
    """The TCN's auxiliary heads: name -> the column indices of its member behaviours (checked;
    ``where`` names the table in errors). Torch-free: the Snakefile checks the config with it."""
    if not auxiliary:
        return {}
    if not isinstance(auxiliary, Mapping):
        raise EthoflowError(f"{where}: a table of name -> [behaviour, ...], not {auxiliary!r}")
    if exclusive:
        raise EthoflowError(
            f"{where}: auxiliary heads need behaviours scored on their own (exclusive: false); "
            "an exclusive set's classes already share one softmax"
        )
    behaviours = list(behaviours)
    out = {}
    for name, members in auxiliary.items():
        if name in behaviours:
            raise EthoflowError(f"{where}: {name!r} is a behaviour; give the head its own name")
        if isinstance(members, str) or not members:
            raise EthoflowError(f"{where}.{name}: a list of behaviours, not {members!r}")
        bad = [m for m in members if m not in behaviours]
        if bad:
            raise EthoflowError(f"{where}.{name}: {bad} are not behaviours {behaviours}")
        out[str(name)] = [behaviours.index(m) for m in dict.fromkeys(members)]
    return out


def with_auxiliary(y: np.ndarray, groups: Mapping[str, SequenceABC[int]]) -> np.ndarray:
    """[T, C] labels -> [T, C + heads]: each auxiliary head on where any member is on."""
    if not groups:
        return y
    return np.concatenate(
        [y] + [y[:, list(g)].max(axis=1, keepdims=True) for g in groups.values()], 1
    )


def classes_of(behaviours: SequenceABC[str], exclusive: bool) -> list[str]:
    """The output classes: the behaviours, and ``"none"`` for an exclusive set."""
    return list(behaviours) + [NONE] if exclusive else list(behaviours)


@dataclass
class Sequence:
    """One animal in one video: frames in order, raw features, targets and the scored mask."""

    video: str
    animal: str
    frames: np.ndarray  # int64 [T]
    X: np.ndarray  # float32 [T, F], NaN where missing
    y: np.ndarray | None  # float32 [T, C] 0/1, or None (no labels)
    scored: np.ndarray  # bool [T]
    missing: np.ndarray = field(default=None)  # bool [T]: status "missing"

    def __post_init__(self):
        if self.missing is None:
            self.missing = (
                np.isnan(self.X).all(axis=1)
                if self.X.shape[1]
                else np.zeros(len(self.frames), bool)
            )

    def __len__(self) -> int:
        return len(self.frames)

    def piece(self, start: int, stop: int) -> Sequence:
        """Frames ``start:stop`` (positions, not frame numbers) as a sequence of their own."""
        s = slice(start, stop)
        y = None if self.y is None else self.y[s]
        return replace(
            self,
            frames=self.frames[s],
            X=self.X[s],
            y=y,
            scored=self.scored[s],
            missing=self.missing[s],
        )


def _label_matrix(
    labels: pd.DataFrame, behaviours: list[str], exclusive: bool
) -> tuple[np.ndarray, np.ndarray]:
    on = labels[behaviours].to_numpy(dtype=np.float32)
    on = np.nan_to_num(on, nan=0.0)
    scored = labels["scored"].fillna(False).to_numpy(dtype=bool)
    if exclusive:
        many = (on.sum(axis=1) > 1) & scored
        if many.any():
            i = int(np.flatnonzero(many)[0])
            r = labels.iloc[i]
            raise EthoflowError(
                f"frame labels: animal {r['animal']!r} frame {int(r['frame'])} has "
                f"{int(on[i].sum())} behaviours on in an exclusive set"
            )
        on = np.c_[on, (on.sum(axis=1) == 0).astype(np.float32)]
    return on, scored


def make_sequences(
    features_df: pd.DataFrame,
    columns: SequenceABC[str],
    labels_df: pd.DataFrame | None = None,
    *,
    behaviours: SequenceABC[str],
    exclusive: bool,
) -> list[Sequence]:
    """One :class:`Sequence` per (video, animal) of a feature table, in (video, animal) order.

    ``labels_df`` is a frame label table, joined on (animal, frame), and on video too when it has
    a ``video`` column. Without labels, ``y`` is None and nothing is scored.
    """
    columns, behaviours = list(columns), list(behaviours)
    lack = [c for c in ["video", "animal", "frame", *columns] if c not in features_df]
    if lack:
        raise EthoflowError(f"feature table: missing columns {lack}")
    if labels_df is not None:
        lack = [c for c in ["animal", "frame", "scored", *behaviours] if c not in labels_df]
        if lack:
            raise EthoflowError(f"frame label table: missing columns {lack}")
    f = features_df.sort_values(["video", "animal", "frame"], kind="stable")
    keys = ["animal", "frame"]
    lab = None
    if labels_df is not None:
        if "video" in labels_df:
            keys = ["video", "animal", "frame"]
        lab = labels_df[[*keys, "scored", *behaviours]].drop_duplicates(keys, keep="last")
        lab = lab.assign(frame=lab["frame"].astype(np.int64))
    out = []
    for (video, animal), g in f.groupby(["video", "animal"], sort=True):
        frames = g["frame"].to_numpy(dtype=np.int64)
        X = np.array(g[columns].to_numpy(dtype=np.float32), copy=True)
        if "status" in g:
            missing = (g["status"] == "missing").to_numpy()
            X[missing] = np.nan
        else:
            missing = np.isnan(X).all(axis=1)
        y, scored = None, np.zeros(len(g), dtype=bool)
        if lab is not None:
            left = g[keys].assign(frame=frames)
            m = left.merge(lab, on=keys, how="left", sort=False)
            y, scored = _label_matrix(m, behaviours, exclusive)
        out.append(Sequence(str(video), str(animal), frames, X, y, scored, missing))
    return out


def labelled(seqs: SequenceABC[Sequence]) -> list[Sequence]:
    """The sequences with labels and at least one scored frame."""
    return [s for s in seqs if s.y is not None and s.scored.any()]


class Standardizer:
    """Per-column mean/std (NaN ignored) -> scaled features, NaN -> 0, plus a missing channel.

    ``keep``: the indices of the columns used (None: all); the others are dropped, and
    ``n_columns`` is then the width of the feature rows it takes."""

    def __init__(self, mean, std, keep=None, n_columns=None):
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.keep = None if keep is None else np.asarray(keep, dtype=np.int64)
        self.n_columns = len(self.mean) if n_columns is None else int(n_columns)

    def _x(self, seq: Sequence) -> np.ndarray:
        return seq.X if self.keep is None else seq.X[:, self.keep]

    @classmethod
    def fit(cls, seqs: SequenceABC[Sequence], keep=None) -> Standardizer:
        if not seqs:
            raise EthoflowError("standardizer: no sequences to fit on")
        width = seqs[0].X.shape[1]
        if keep is not None:
            seqs = [replace(s, X=s.X[:, keep]) for s in seqs]
        n_cols = seqs[0].X.shape[1]
        count = np.zeros(n_cols)
        total = np.zeros(n_cols)
        sq = np.zeros(n_cols)
        for s in seqs:
            x = s.X.astype(np.float64)
            ok = np.isfinite(x)
            count += ok.sum(axis=0)
            total += np.where(ok, x, 0).sum(axis=0)
        mean = np.divide(total, count, out=np.zeros(n_cols), where=count > 0)
        for s in seqs:
            x = s.X.astype(np.float64)
            ok = np.isfinite(x)
            sq += np.where(ok, (x - mean) ** 2, 0).sum(axis=0)
        var = np.divide(sq, count, out=np.zeros(n_cols), where=count > 0)
        std = np.sqrt(var)
        std[~(std > 1e-8)] = 1.0
        return cls(mean, std, keep, width)

    @property
    def n_inputs(self) -> int:
        return len(self.mean) + 1

    def transform(self, seq: Sequence) -> np.ndarray:
        """float32 [T, F + 1]: scaled features (NaN -> 0) and the 0/1 missing channel."""
        if seq.X.shape[1] != self.n_columns:
            raise EthoflowError(
                f"{seq.video} {seq.animal}: {seq.X.shape[1]} feature columns, the model "
                f"expects {self.n_columns}"
            )
        z = (self._x(seq) - self.mean) / self.std
        z = np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0)
        return np.c_[z, seq.missing.astype(np.float32)].astype(np.float32)

    def to_dict(self) -> dict:
        out = {"mean": [float(v) for v in self.mean], "std": [float(v) for v in self.std]}
        if self.keep is not None:
            out.update(keep=[int(i) for i in self.keep], n_columns=self.n_columns)
        return out


def check_columns(trained: SequenceABC[str], columns: SequenceABC[str] | None, path) -> None:
    """Raise when ``columns`` are not the feature columns a model file was trained on."""
    if columns is None or list(columns) == list(trained):
        return
    missing = [c for c in trained if c not in set(columns)]
    extra = [c for c in columns if c not in set(trained)]
    detail = (
        f"missing {missing}, extra {extra}" if missing or extra else "same columns, other order"
    )
    raise EthoflowError(
        f"{path}: the features do not match the feature schema this model was trained on "
        f"({detail}); recompute the features or retrain"
    )
