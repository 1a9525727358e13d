"""Keypoint (pose) arrays for the behaviour features, and the arena.

:func:`pose_arrays` turns a keypoint table (:mod:`ethoflow.io.keypoints`) into dense arrays
``[animal, frame, node]`` of x and y, in the track table's continuous coordinates (pixel ``i``
spans ``[i, i + 1)``: keypoint + 0.5), with points below ``min_score`` (DeepLabCut likelihood,
SLEAP score; user labels have no score and are kept) or not visible set to NaN. Landmark nodes
(fixed arena points such as ``tl``, ``tr``, ``bl``, ``br``, ``centre``) are split off: they are
no body parts; their median position over the video (confident points only) gives the arena,
the convex hull of the landmarks (:func:`arena_from_landmarks`).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ethoflow.io.files import EthoflowError

log = logging.getLogger(__name__)

NOSE_NAMES = ("nose", "snout")
TAIL_NAMES = ("tailbase", "tail_base", "tail-base", "tail base", "tail")


def keypoint_table(keypoints) -> tuple[pd.DataFrame, list[str], str]:
    """(table, nodes in skeleton order, path) of a KeypointSet or a bare keypoint table."""
    if isinstance(keypoints, pd.DataFrame):
        return keypoints, list(pd.unique(keypoints["node"].astype(str))), "keypoint table"
    return keypoints.table, list(keypoints.nodes), str(keypoints.path)


def find_node(nodes: list[str], given: str | None, names: tuple[str, ...], what: str, path: str):
    """The node called ``given`` (an error naming the file if absent), else the first node whose
    name matches one of ``names`` (case-insensitive, ignoring separators); None if none does."""
    if given is not None:
        if given not in nodes:
            raise EthoflowError(f"{path}: no {what} node {given!r}; nodes are {nodes}")
        return given
    norm = {re.sub(r"[\s_\-]", "", n.lower()): n for n in nodes}
    for cand in names:
        hit = norm.get(re.sub(r"[\s_\-]", "", cand))
        if hit is not None:
            return hit
    return None


def pose_arrays(
    keypoints, animals: list[str], n_frames: int, landmarks=(), min_score: float = 0.5
) -> dict:
    """Dense keypoint arrays: ``{"x", "y"}`` ``[A, F, N]`` over the body nodes, ``"score"``
    ``[A, F, N]`` (the keypoint's score, NaN where there is no point; 1 for a visible point
    without a score), ``"nodes"`` (the body nodes), ``"landmarks"`` (``{name: (x, y)}``
    medians of the confident landmark points, NaN when never confident) and ``"path"``. Rows
    of identities not in ``animals`` and frames outside ``0..n_frames-1`` are dropped."""
    table, nodes, path = keypoint_table(keypoints)
    unknown = [n for n in landmarks if n not in nodes]
    if unknown:
        raise EthoflowError(f"{path}: landmarks {unknown} are not keypoint nodes {nodes}")
    body = [n for n in nodes if n not in set(landmarks)]
    score = table["score"].to_numpy(dtype=np.float64)
    frame = table["frame"].to_numpy(dtype=np.int64)
    in_range = table["visible"].to_numpy(dtype=bool) & (frame >= 0) & (frame < n_frames)
    ok = in_range & ~(score < min_score)
    node = table["node"].astype(str).to_numpy()
    x = table["x"].to_numpy(dtype=np.float64) + 0.5
    y = table["y"].to_numpy(dtype=np.float64) + 0.5
    marks = {}
    for name in landmarks:
        sel = ok & (node == name)
        marks[name] = (
            (float(np.median(x[sel])), float(np.median(y[sel])))
            if sel.any()
            else (
                np.nan,
                np.nan,
            )
        )
    a_idx = pd.Series(table["identity"].astype(str).to_numpy()).map(
        {a: i for i, a in enumerate(animals)}
    )
    n_idx = pd.Series(node).map({n: i for i, n in enumerate(body)})
    # the body points of known animals in range; x and y where confident, scores of them all
    seen = in_range & a_idx.notna().to_numpy() & n_idx.notna().to_numpy()
    idx = (
        a_idx.to_numpy()[seen].astype(np.int64),
        frame[seen],
        n_idx.to_numpy()[seen].astype(np.int64),
    )
    s = score[seen]
    conf = ~(s < min_score)
    xs = np.full((len(animals), n_frames, len(body)), np.nan)
    ys = np.full_like(xs, np.nan)
    scores = np.full_like(xs, np.nan)
    xs[tuple(i[conf] for i in idx)] = x[seen][conf]
    ys[tuple(i[conf] for i in idx)] = y[seen][conf]
    scores[idx] = np.where(np.isnan(s), 1.0, s)
    return {"x": xs, "y": ys, "score": scores, "nodes": body, "landmarks": marks, "path": path}


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Convex hull (counter-clockwise in image coordinates' math sense) of a few 2-D points."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.asarray(pts, dtype=np.float64).reshape(-1, 2)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.asarray(lower[:-1] + upper[:-1], dtype=np.float64)


def arena_from_landmarks(marks: dict, path: str = "keypoints") -> np.ndarray | None:
    """The arena polygon: the convex hull of the landmarks' median positions (corners give a
    quadrilateral; an inner point such as ``centre`` drops out). None (with a warning) when
    fewer than three landmarks were ever confidently seen."""
    pts = np.asarray([p for p in marks.values() if np.isfinite(p).all()], dtype=np.float64)
    hull = convex_hull(pts) if len(pts) else pts
    if len(hull) < 3:
        log.warning("%s: fewer than 3 usable arena landmarks (%s): no arena", path, list(marks))
        return None
    return hull


def edge_distance(x: np.ndarray, y: np.ndarray, polygon: np.ndarray) -> np.ndarray:
    """Signed distance of points to the polygon's edges: positive inside, negative outside,
    NaN where a coordinate is NaN. Vectorised over points and edges."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    ax, ay = poly[:, 0], poly[:, 1]
    bx, by = np.roll(ax, -1), np.roll(ay, -1)
    shape = np.shape(x)
    px = np.asarray(x, dtype=np.float64).reshape(-1, 1)
    py = np.asarray(y, dtype=np.float64).reshape(-1, 1)
    ex, ey = bx - ax, by - ay
    seg = np.maximum(ex * ex + ey * ey, 1e-12)
    t = np.clip(((px - ax) * ex + (py - ay) * ey) / seg, 0.0, 1.0)
    d = np.hypot(px - (ax + t * ex), py - (ay + t * ey)).min(axis=1)
    crosses = ((ay > py) != (by > py)) & (
        px < ax + (py - ay) * ex / np.where(by - ay == 0, 1e-12, by - ay)
    )
    inside = (crosses.sum(axis=1) % 2) == 1
    out = np.where(inside, d, -d)
    out[~(np.isfinite(px[:, 0]) & np.isfinite(py[:, 0]))] = np.nan
    return out.reshape(shape)


def node_features(
    xs: np.ndarray, ys: np.ndarray, nodes: list[str], dt: float, scores: np.ndarray | None = None
) -> dict:
    """Within-animal pose features over ``[F, N]`` arrays: ``node_dist_<a>_<b>`` (every node
    pair), ``extension`` (mean distance of the visible nodes to their centre),
    ``node_speed_<n>`` (central difference) and, with ``scores``, ``pose_confident`` (share of
    the body nodes kept, i.e. at or above ``min_score``) and ``pose_score`` (mean score of all
    the visible body points, those below ``min_score`` too: body parts hidden when an animal
    rears or curls up lower it); both NaN on frames where no node is kept. Returns
    ``{column: (values [F], unit)}``."""
    out = {}
    n = len(nodes)
    for i in range(n):
        for j in range(i + 1, n):
            d = np.hypot(xs[:, i] - xs[:, j], ys[:, i] - ys[:, j])
            out[f"node_dist_{nodes[i]}_{nodes[j]}"] = (d, "px")
    with np.errstate(invalid="ignore"), quiet():
        mx = np.nanmean(xs, axis=1, keepdims=True)
        my = np.nanmean(ys, axis=1, keepdims=True)
        out["extension"] = (np.nanmean(np.hypot(xs - mx, ys - my), axis=1), "px")
    for i, name in enumerate(nodes):
        vx, vy = central_diff(xs[:, i], dt), central_diff(ys[:, i], dt)
        out[f"node_speed_{name}"] = (np.hypot(vx, vy), "px/s")
    if scores is not None and n:
        # NaN where no node is kept: the animal is missing there (no 0 into the windows)
        kept = np.isfinite(xs).sum(axis=1)
        seen = kept > 0
        out["pose_confident"] = (np.where(seen, kept / float(n), np.nan), "1")
        with quiet():
            out["pose_score"] = (np.where(seen, np.nanmean(scores, axis=1), np.nan), "1")
    return out


def central_diff(v: np.ndarray, dt: float) -> np.ndarray:
    """(v[t+1] - v[t-1]) / (2 dt) along the last axis; NaN at both ends and next to NaN."""
    out = np.full(v.shape, np.nan)
    out[..., 1:-1] = (v[..., 2:] - v[..., :-2]) / (2.0 * dt)
    return out


class quiet:
    """Silence numpy's "mean of empty slice" warnings (all-NaN frames are expected)."""

    def __enter__(self):
        import warnings

        self._w = warnings.catch_warnings()
        self._w.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._w.__exit__(*exc)
