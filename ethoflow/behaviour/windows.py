"""Window statistics of the behaviour features: ``<base>_<mean|std|min|max>_<w>s`` over centred
windows of ``w`` seconds (``round(w * fps)`` frames, made odd), NaN-aware, of the bases in
:data:`WINDOW_BASES` and the ``edge_distance_<node>`` columns; :func:`is_window_column` tells
such a column from a per-frame one."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

WINDOW_BASES = (
    "speed",
    "angular_velocity",
    "length",
    "area_rate",
    "extension",
    "edge_distance",
    "pose_confident",
    "pose_score",
    "p1_distance",
    "p1_distance_rate",
    "p1_facing",
    "p1_mask_distance",
)
STATS = ("mean", "std", "min", "max")
_WINDOW_RE = re.compile(r"_(?:mean|std|min|max)_[0-9.e+-]+s$")


def is_window_column(name: str) -> bool:
    """Whether a feature column is a window statistic (``<base>_<stat>_<w>s``)."""
    return _WINDOW_RE.search(name) is not None


def window_length(w: float, fps: float) -> int:
    """Frames in a centred window of ``w`` seconds: ``round(w * fps)``, made odd, at least 1."""
    n = max(1, int(round(w * fps)))
    return n + 1 if n % 2 == 0 else n


def window_stats(cols: dict, windows_s, fps: float) -> dict:
    """``<base>_<stat>_<w>s`` (mean, std, min, max) over centred windows, NaN-aware, of the
    bases in :data:`WINDOW_BASES` present in ``cols``; one pandas rolling pass per window."""
    bases = [b for b in WINDOW_BASES if b in cols]
    bases += [b for b in cols if b.startswith("edge_distance_") and not is_window_column(b)]
    out = {}
    if not bases:
        return out
    a_n = cols[bases[0]][0].shape[0]
    wide = pd.DataFrame(np.concatenate([cols[b][0] for b in bases]).T)
    for w in windows_s:
        roll = wide.rolling(window_length(w, fps), center=True, min_periods=1)
        res = {
            "mean": roll.mean(),
            "std": roll.std(ddof=0),
            "min": roll.min(),
            "max": roll.max(),
        }
        for i, b in enumerate(bases):
            for stat in STATS:
                v = res[stat].to_numpy()[:, i * a_n : (i + 1) * a_n].T
                out[f"{b}_{stat}_{w:g}s"] = (v, cols[b][1])
    return out


def smooth_tracks(values: np.ndarray, n: int) -> np.ndarray:
    """Centred moving mean over ``n`` frames (odd; 1 = unchanged) along the last axis of
    ``[A, F]`` values, NaN-aware: a frame with a value averages the values seen in its window,
    a frame without one stays NaN (nothing is invented where the animal is missing)."""
    if n <= 1:
        return values
    m = pd.DataFrame(values.T).rolling(n, center=True, min_periods=1).mean().to_numpy().T
    return np.where(np.isfinite(values), m, np.nan)
