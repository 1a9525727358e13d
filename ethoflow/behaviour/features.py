"""Per-animal, per-frame behaviour features from a track table (masks) and/or keypoints (pose).

:func:`compute_features` returns the feature table (one row per animal per frame, every frame
``0..n_frames-1``, sorted by animal then frame) and its metadata; :func:`write_features` /
:func:`read_features` store it as Parquet with the metadata as JSON under :data:`META_KEY`.

Identity columns: ``video``, ``animal``, ``frame``, ``time_s``, ``status`` (``detected`` |
``interpolated``, the track's ``source``; ``missing`` where the animal has no row: every
feature NaN, never invented), ``partner`` (identity of the nearest other animal, "" if none).
Feature columns (float32; ``meta["units"]`` gives each unit; px, px/s, ... become mm, mm/s, ...
with ``px_per_mm``). Rates are central differences ``(v[t+1] - v[t-1]) / 2dt``: NaN at the
first and last frame and next to a missing frame.

- ``x``, ``y``: centroid (track table ``cx``, ``cy``; pose only: mean of the body nodes seen,
  tail nodes other than the tail base left out). With ``smooth_s`` the track table's centroid,
  length, width and area are a centred moving mean (missing frames stay missing).
- ``speed``, ``acceleration`` (d speed / dt), ``heading`` (rad, image coordinates: 0 = +x,
  pi/2 = +y, i.e. down), ``angular_velocity`` (rad/s). Heading comes from the nose-tail axis
  where both points are seen, else from the mask: its orientation from the image moments, the
  sign chosen per stretch of continuous orientation (no jump over ``pi/3`` a frame) by the
  direction of motion (frames faster than half a body length per second), stretches without
  motion taking the sign closest to the previous stretch.
- masks: ``length``, ``width`` (``4 sqrt(lambda)`` of the covariance eigenvalues: the axes of
  an ellipse), ``area`` and their rates; pose only: ``length`` is the nose-tail distance.
- ``edge_distance``: signed distance of the centroid to the arena edge (positive inside), when
  the arena is given (polygon, px) or comes from landmark nodes; with pose also
  ``edge_distance_<node>`` for the ``edge_nodes`` (default the nose and the tail base): a nose
  beyond the wall's foot is a head raised over it, as in supported rearing.
- pose: ``node_dist_<a>_<b>`` for each pair of body nodes, ``extension`` (mean distance of the
  nodes to their centre), ``node_speed_<node>``, ``pose_confident`` (share of the body nodes at
  or above ``min_score``), ``pose_score`` (mean keypoint score; unit ``1``).
- pairs, partners ranked by centroid distance each frame: ``p1_*`` (nearest) .. ``p{n-1}_*``:
  ``distance``, ``mask_distance`` (distance between the masks as unions of pixel squares: 0 when
  they overlap or touch; exact when their boxes are within ``exact_px``, the gap between the
  boxes, a lower bound, beyond), ``mask_iou``, ``bbox_iou``, ``facing`` (angle between A's
  heading and the direction A->B, rad, 0 = facing it), ``facing_back`` (B towards A),
  ``distance_rate`` (d/dt of the distance to that partner, negative = approaching),
  ``partner_speed``; with pose ``nose_nose``, ``nose_tail`` (A's nose to B's tail base),
  ``tail_nose``.
- window statistics ``<base>_<mean|std|min|max>_<w>s`` over centred windows of ``w`` seconds
  (``round(w * fps)`` frames, made odd), NaN-aware, of the bases in :data:`WINDOW_BASES` and
  the ``edge_distance_<node>`` columns (:func:`is_window_column` tells them apart).

Keypoints: points not visible or with a score below ``min_score`` (default 0.5; user labels have
no score and are kept) are NaN; ``landmarks`` are arena points, not body parts.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.behaviour import pose as P
from ethoflow.behaviour.windows import (  # noqa: F401  (part of this module's API)
    STATS,
    WINDOW_BASES,
    is_window_column,
    smooth_tracks,
    window_length,
    window_stats,
)
from ethoflow.io.files import EthoflowError, atomic_path, strict_json

log = logging.getLogger(__name__)

META_KEY = b"ethoflow.features"
ID_COLUMNS = ["video", "animal", "frame", "time_s", "status", "partner"]
STATUS = np.array(["missing", "detected", "interpolated"], dtype=object)
CHUNK = 20_000  # masks parsed at once


# --------------------------------------------------------------------------------------------
# masks: COCO RLE strings -> per-column pixel intervals, moments, pair distances and overlaps


def parse_counts(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Run lengths of compressed COCO RLE strings (pycocotools' rleFrString, vectorised):
    ``(runs, first)`` with mask ``m``'s runs at ``runs[first[m]:first[m + 1]]``."""
    n = len(strings)
    lens = np.fromiter((len(s) for s in strings), dtype=np.int64, count=n)
    c = np.frombuffer("".join(strings).encode("ascii"), dtype=np.uint8).astype(np.int64) - 48
    if not len(c):
        return np.zeros(0, np.int64), np.zeros(n + 1, np.int64)
    ends = np.flatnonzero((c & 0x20) == 0)
    gstart = np.r_[0, ends[:-1] + 1]
    nchar = ends - gstart + 1
    k = np.arange(len(c)) - np.repeat(gstart, nchar)
    vals = np.add.reduceat((c & 0x1F) << (5 * k), gstart)
    vals -= ((c[ends] & 0x10) != 0).astype(np.int64) << (5 * nchar)
    first = np.searchsorted(gstart, np.r_[0, np.cumsum(lens)])
    owner = np.repeat(np.arange(n), np.diff(first))
    r = np.arange(len(vals)) - first[owner]
    runs = vals.copy()
    for sel in (r % 2 == 1, (r % 2 == 0) & (r >= 2)):  # x += runs[-2] for run index > 2
        v = np.where(sel, vals, 0)
        cs = np.cumsum(v)
        runs[sel] = (cs - np.r_[0, cs][first[:-1]][owner])[sel]
    return runs, first


def intervals(strings: list[str], heights: np.ndarray) -> dict:
    """Each mask as vertical pixel intervals: ``owner`` (mask), ``col`` (x), ``top``, ``bot``
    (y, inclusive), sorted by mask then column; ``first``/``count`` index them by mask."""
    runs, first = parse_counts(strings)
    owner = np.repeat(np.arange(len(strings)), np.diff(first))
    cs = np.cumsum(runs)
    pos = cs - runs - np.r_[0, cs][first[:-1]][owner]
    r = np.arange(len(runs)) - first[owner]
    one = (r % 2 == 1) & (runs > 0)
    s, e, m = pos[one], pos[one] + runs[one], owner[one]
    h = np.asarray(heights, dtype=np.int64)[m]
    c0, c1 = s // h, (e - 1) // h
    pieces = c1 - c0 + 1
    idx = np.repeat(np.arange(len(s)), pieces)
    i = np.arange(len(idx)) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    last = i == pieces[idx] - 1
    out = {
        "owner": m[idx],
        "col": (c0[idx] + i).astype(np.int32),
        "top": np.where(i == 0, s[idx] % h[idx], 0).astype(np.int32),
        "bot": np.where(last, (e[idx] - 1) % h[idx], h[idx] - 1).astype(np.int32),
    }
    out["count"] = np.bincount(out["owner"], minlength=len(strings)).astype(np.int64)
    out["first"] = np.cumsum(out["count"]) - out["count"]
    return out


def moments(iv: dict, n: int) -> dict:
    """Area, centroid (pixel centres at +0.5), axis ``length``/``width`` (``4 sqrt(lambda)``,
    pixels as unit squares) and orientation ``theta`` (rad, mod pi) of each of ``n`` masks."""
    x = iv["col"].astype(np.float64) + 0.5
    a, b = iv["top"].astype(np.float64), iv["bot"].astype(np.float64)
    cnt = b - a + 1
    sy = cnt * (a + b + 1) / 2
    sq = (b * (b + 1) * (2 * b + 1) - (a - 1) * a * (2 * a - 1)) / 6  # sum of y^2, y = a..b
    syy = sq + (sy - cnt * 0.5) + cnt * 0.25  # sum of (y + 0.5)^2
    w = iv["owner"]

    def total(v):
        return np.bincount(w, weights=v, minlength=n)

    area = total(cnt)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = total(cnt * x) / area, total(sy) / area
        cxx = total(cnt * x * x) / area - mx * mx + 1 / 12
        cyy = total(syy) / area - my * my + 1 / 12
        cxy = total(x * sy) / area - mx * my
        half = np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
        l1 = (cxx + cyy) / 2 + half
        l2 = np.maximum((cxx + cyy) / 2 - half, 0.0)
    theta = 0.5 * np.arctan2(2 * cxy, cxx - cyy)
    return dict(area=area, cx=mx, cy=my, length=4 * np.sqrt(l1), width=4 * np.sqrt(l2), theta=theta)


def pair_geometry(iv: dict, ma: np.ndarray, mb: np.ndarray, max_elements: int = 4_000_000):
    """Exact (gap, intersection area) of mask pairs ``(ma[k], mb[k])``: the Euclidean distance
    between the masks as unions of pixel squares (0 when touching) over every pair of their
    column intervals, and the shared pixels. NaN gap where a mask is empty."""
    gap = np.full(len(ma), np.nan)
    inter = np.zeros(len(ma))
    na, nb = iv["count"][ma], iv["count"][mb]
    prod = na * nb
    todo = np.flatnonzero(prod > 0)
    col, top, bot = (iv[k].astype(np.int64) for k in ("col", "top", "bot"))
    start = 0
    csum = np.cumsum(prod[todo])
    while start < len(todo):
        stop = int(np.searchsorted(csum, (csum[start - 1] if start else 0) + max_elements))
        stop = max(stop, start + 1)
        sub = todo[start:stop]
        p = prod[sub]
        seg = np.cumsum(p) - p
        pid = np.repeat(np.arange(len(sub)), p)
        j = np.arange(int(p.sum())) - seg[pid]
        nbr = nb[sub][pid]
        ia = iv["first"][ma[sub]][pid] + j // nbr
        ib = iv["first"][mb[sub]][pid] + j % nbr
        dx = np.abs(col[ia] - col[ib])
        gx = np.maximum(dx - 1, 0)
        gy = np.maximum(np.maximum(top[ib] - bot[ia], top[ia] - bot[ib]) - 1, 0)
        gap[sub] = np.sqrt(np.minimum.reduceat(gx * gx + gy * gy, seg))
        ov = np.minimum(bot[ia], bot[ib]) - np.maximum(top[ia], top[ib]) + 1
        inter[sub] = np.add.reduceat(np.where(dx == 0, np.maximum(ov, 0), 0), seg)
        start = stop
    return gap, inter


def mask_strings(masks) -> tuple[list[int], list[str], np.ndarray]:
    """(row positions with a mask, compressed RLE strings, heights) of a track table's masks;
    uncompressed counts (lists) are compressed with pycocotools."""
    rows, strings, heights, raw = [], [], [], []
    for i, m in enumerate(masks):
        if not isinstance(m, dict) or m.get("counts") is None:
            continue
        c = m["counts"]
        if isinstance(c, (list, np.ndarray)):
            raw.append((len(strings), m))
            c = ""
        elif isinstance(c, bytes):
            c = c.decode("ascii")
        rows.append(i)
        strings.append(c)
        heights.append(int(m["size"][0]))
    if raw:
        from pycocotools import mask as mask_utils

        objs = [{"size": [int(s) for s in m["size"]], "counts": list(m["counts"])} for _, m in raw]
        enc = mask_utils.frPyObjects(objs, *objs[0]["size"])
        for (k, _), e in zip(raw, enc, strict=True):
            strings[k] = e["counts"].decode("ascii")
    return rows, strings, np.asarray(heights, dtype=np.int64)


# --------------------------------------------------------------------------------------------
# per-animal arrays


def track_arrays(tracks: pd.DataFrame, animals: list[str], n_frames: int, progress=None) -> dict:
    """Dense ``[A, F]`` arrays of a track table: status codes, box, centroid, mask geometry, the
    row's mask index (-1: none) and the masks' column intervals (``"iv"``)."""
    ident = tracks["identity"].astype(str).to_numpy()
    a = pd.Series(ident).map({n: i for i, n in enumerate(animals)}).to_numpy()
    frame = tracks["frame"].to_numpy(dtype=np.int64)
    keep = pd.notna(a) & (frame >= 0) & (frame < n_frames)
    other = sorted(set(ident[pd.isna(a)]))
    if other:
        log.warning("track identities %s are not among the animals %s: ignored", other, animals)
    ai, fi = a[keep].astype(np.int64), frame[keep]
    if pd.Series(ai * n_frames + fi).duplicated().any():
        raise EthoflowError("track table: more than one row for an identity in a frame")
    shape = (len(animals), n_frames)
    out = {"status": np.zeros(shape, np.int8), "mask_idx": np.full(shape, -1, np.int64)}
    src = tracks["source"].astype(str).to_numpy()[keep]
    out["status"][ai, fi] = np.where(src == "interpolated", 2, 1)
    for c in ("x1", "y1", "x2", "y2", "cx", "cy"):
        out[c] = np.full(shape, np.nan)
        out[c][ai, fi] = tracks[c].to_numpy(dtype=np.float64)[keep]
    rows, strings, heights = mask_strings(tracks["mask"].to_numpy()[keep])
    parts, off, geo = [], 0, {k: [] for k in ("area", "length", "width", "theta")}
    chunks = range(0, len(strings), CHUNK)
    if progress is not None:
        from tqdm import tqdm

        chunks = tqdm(chunks, file=progress, desc="masks", unit="chunk")
    for s in chunks:
        iv = intervals(strings[s : s + CHUNK], heights[s : s + CHUNK])
        g = moments(iv, len(strings[s : s + CHUNK]))
        for k in geo:
            geo[k].append(g[k])
        iv["owner"] = iv["owner"] + off
        iv["first"] = iv["first"] + sum(len(p["col"]) for p in parts)
        parts.append(iv)
        off += len(strings[s : s + CHUNK])
    iv = {
        k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, np.int64)
        for k in ("owner", "col", "top", "bot", "count", "first")
    }
    rows = np.asarray(rows, dtype=np.int64)
    out["mask_idx"][ai[rows], fi[rows]] = np.arange(len(rows))
    for k, v in geo.items():
        out[k] = np.full(shape, np.nan)
        if len(rows):
            out[k][ai[rows], fi[rows]] = np.concatenate(v)
    out["area"][out["area"] == 0] = np.nan
    out["iv"] = iv
    return out


def wrap(a: np.ndarray) -> np.ndarray:
    """Angles into [-pi, pi)."""
    return (a + np.pi) % (2 * np.pi) - np.pi


def resolve_heading(theta, cx, cy, length, dt: float, max_turn: float = np.pi / 3):
    """Heading [F] (rad) from the mask axis angle ``theta`` (mod pi): continuous stretches of
    orientation take the sign that agrees with the motion (see the module docstring)."""
    n = len(theta)
    valid = np.isfinite(theta)
    d = np.full(n, np.nan)
    d[1:] = (theta[1:] - theta[:-1] + np.pi / 2) % np.pi - np.pi / 2
    start = valid & ~(np.abs(d) <= max_turn)
    seg = np.cumsum(start) - 1
    n_seg = int(start.sum())
    if not n_seg:
        return np.full(n, np.nan)
    dd = np.where(valid & ~start, d, 0.0)
    cs = np.cumsum(dd)
    s_idx = np.flatnonzero(start)
    seg_v = np.where(valid, seg, 0)
    cont = np.where(valid, theta[s_idx][seg_v] + cs - cs[s_idx][seg_v], np.nan)
    vx, vy = P.central_diff(cx, dt), P.central_diff(cy, dt)
    speed = np.hypot(vx, vy)
    med = np.nanmedian(length) if np.isfinite(length).any() else np.nan
    thr = 0.5 * med if np.isfinite(med) else 0.0
    with np.errstate(invalid="ignore"):
        moving = valid & (speed > thr)
    w = np.where(moving, speed * np.cos(cont - np.arctan2(vy, vx)), 0.0)
    vote = np.bincount(seg[valid], weights=w[valid], minlength=n_seg)
    last = np.flatnonzero(valid & np.r_[start[1:] | ~valid[1:], True])
    flip = np.zeros(n_seg, bool)
    prev = np.nan
    for k in range(n_seg):  # a loop over stretches, not frames
        if vote[k] != 0:
            flip[k] = vote[k] < 0
        elif np.isfinite(prev):
            flip[k] = np.cos(cont[s_idx[k]] - prev) < 0
        prev = cont[last[k]] + np.pi * flip[k]
    return np.where(valid, wrap(cont + np.pi * flip[seg_v]), np.nan)


# --------------------------------------------------------------------------------------------
# pairs


def mask_pairs(tr: dict, exact_px: float | None) -> dict:
    """``[A, A, F]`` mask distance, mask IoU and box IoU of every pair (symmetric; NaN on the
    diagonal and where a mask or box is missing). Mask distances are exact for pairs whose
    boxes are at most ``exact_px`` apart (None: all), else the gap between the boxes."""
    a_n, f_n = tr["cx"].shape
    out = {k: np.full((a_n, a_n, f_n), np.nan) for k in ("mask_distance", "mask_iou", "bbox_iou")}
    for i in range(a_n):
        for j in range(i + 1, a_n):
            x1, y1 = np.maximum(tr["x1"][i], tr["x1"][j]), np.maximum(tr["y1"][i], tr["y1"][j])
            x2, y2 = np.minimum(tr["x2"][i], tr["x2"][j]), np.minimum(tr["y2"][i], tr["y2"][j])
            inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
            box = [(tr["x2"][k] - tr["x1"][k]) * (tr["y2"][k] - tr["y1"][k]) for k in (i, j)]
            with np.errstate(invalid="ignore", divide="ignore"):
                biou = inter / (box[0] + box[1] - inter)
            gap = np.hypot(np.clip(x1 - x2, 0, None), np.clip(y1 - y2, 0, None))
            mi, mj = tr["mask_idx"][i], tr["mask_idx"][j]
            both = (mi >= 0) & (mj >= 0)
            near = both & (gap <= (np.inf if exact_px is None else exact_px))
            d, ov = pair_geometry(tr["iv"], mi[near], mj[near])
            md = np.where(both, gap, np.nan)
            md[near] = d
            iou = np.where(both, 0.0, np.nan)
            with np.errstate(invalid="ignore", divide="ignore"):
                iou[near] = ov / (tr["area"][i][near] + tr["area"][j][near] - ov)
            for k, v in (("mask_distance", md), ("mask_iou", iou), ("bbox_iou", biou)):
                out[k][i, j] = out[k][j, i] = v
    return out


def pair_features(base: dict, dt: float, tr: dict | None, ends: dict | None, exact_px) -> dict:
    """``{name: ([A, A, F] values for A towards partner B, unit)}`` (see the module docstring)."""
    cx, cy = base["x"], base["y"]
    a_n = cx.shape[0]
    dx, dy = cx[None] - cx[:, None], cy[None] - cy[:, None]  # [i, j]: from i to j
    dist = np.hypot(dx, dy)
    dist[np.arange(a_n), np.arange(a_n)] = np.nan
    out = {"distance": (dist, "px")}
    if tr is not None:
        g = mask_pairs(tr, exact_px)
        out.update(mask_distance=(g["mask_distance"], "px"), mask_iou=(g["mask_iou"], "1"))
        out["bbox_iou"] = (g["bbox_iou"], "1")
    facing = np.abs(wrap(np.arctan2(dy, dx) - base["heading"][:, None]))
    out["facing"] = (facing, "rad")
    out["facing_back"] = (facing.transpose(1, 0, 2), "rad")
    out["distance_rate"] = (P.central_diff(dist, dt), "px/s")
    out["partner_speed"] = (np.broadcast_to(base["speed"][None], dist.shape), "px/s")
    if ends is not None:
        nx, ny, tx, ty = (ends[k] for k in ("nose_x", "nose_y", "tail_x", "tail_y"))
        out["nose_nose"] = (np.hypot(nx[:, None] - nx[None], ny[:, None] - ny[None]), "px")
        out["nose_tail"] = (np.hypot(nx[:, None] - tx[None], ny[:, None] - ty[None]), "px")
        out["tail_nose"] = (np.hypot(tx[:, None] - nx[None], ty[:, None] - ny[None]), "px")
    return out


def rank_partners(pairs: dict, animals: list[str]) -> tuple[dict, np.ndarray]:
    """Partner slots ``p1_*`` (nearest) .. ``p{A-1}_*`` per frame, and the ``partner`` names."""
    a_n = len(animals)
    dist = pairs["distance"][0]
    f_n = dist.shape[-1]
    partner = np.full((a_n, f_n), "", dtype=object)
    cols = {
        f"p{k + 1}_{name}": (np.full((a_n, f_n), np.nan), unit)
        for k in range(a_n - 1)
        for name, (_, unit) in pairs.items()
    }
    names = np.asarray(animals, dtype=object)
    for a in range(a_n):
        others = np.array([b for b in range(a_n) if b != a], dtype=np.int64)
        d = dist[a, others]
        order = np.argsort(np.where(np.isnan(d), np.inf, d), axis=0, kind="stable")
        for name, (arr, _) in pairs.items():
            srt = np.take_along_axis(arr[a, others], order, axis=0)
            for k in range(a_n - 1):
                cols[f"p{k + 1}_{name}"][0][a] = srt[k]
        near = np.take_along_axis(d, order[:1], axis=0)[0]
        partner[a] = np.where(np.isfinite(near), names[others][order[0]], "")
    return cols, partner


# --------------------------------------------------------------------------------------------
# the feature table


def _pose_setup(keypoints, animals, n_frames, landmarks, nose, tail, min_score) -> dict:
    ps = P.pose_arrays(keypoints, animals, n_frames, landmarks=landmarks, min_score=min_score)
    nodes, path = ps["nodes"], ps["path"]
    ps["nose"] = P.find_node(nodes, nose, P.NOSE_NAMES, "nose", path)
    ps["tail"] = P.find_node(nodes, tail, P.TAIL_NAMES, "tail", path)
    ps["ends"] = None
    # the centroid: every body node but the tail beyond its base (it swings)
    body = [i for i, n in enumerate(nodes) if "tail" not in n.lower() or n == ps["tail"]]
    ps["centre_nodes"] = body or list(range(len(nodes)))
    if ps["nose"] is not None and ps["tail"] is not None:
        i, j = nodes.index(ps["nose"]), nodes.index(ps["tail"])
        ps["ends"] = dict(
            nose_x=ps["x"][..., i],
            nose_y=ps["y"][..., i],
            tail_x=ps["x"][..., j],
            tail_y=ps["y"][..., j],
        )
    return ps


def _edge_nodes(ps: dict | None, given) -> list[str]:
    """The body nodes with an edge-distance column: ``given`` (each must be a body node), else
    the nose and the tail base where found; none without pose."""
    if ps is None:
        return []
    if given is None:
        return [n for n in (ps["nose"], ps["tail"]) if n is not None]
    bad = [n for n in given if n not in ps["nodes"]]
    if bad:
        raise EthoflowError(f"{ps['path']}: edge_nodes {bad} are not body nodes {ps['nodes']}")
    return list(dict.fromkeys(given))


def _body(tr: dict | None, ps: dict | None, dt: float, smooth: int) -> tuple[dict, np.ndarray]:
    """Single-animal columns ``{name: ([A, F], unit)}`` and the status codes ``[A, F]``; the
    masks' centroid and shape are a moving mean over ``smooth`` frames (1: as tracked)."""
    if tr is not None:
        g = {c: smooth_tracks(tr[c], smooth) for c in ("cx", "cy", "length", "width", "area")}
    with P.quiet():
        if tr is not None:
            status, x, y = tr["status"], g["cx"], g["cy"]
        else:
            status = np.isfinite(ps["x"]).any(axis=2).astype(np.int8)
            c = ps["centre_nodes"]
            x, y = np.nanmean(ps["x"][..., c], axis=2), np.nanmean(ps["y"][..., c], axis=2)
    speed = np.hypot(P.central_diff(x, dt), P.central_diff(y, dt))
    heading = np.full(x.shape, np.nan)
    length = np.full(x.shape, np.nan)
    e = ps["ends"] if ps is not None else None
    if e is not None:
        heading = np.arctan2(e["nose_y"] - e["tail_y"], e["nose_x"] - e["tail_x"])
        length = np.hypot(e["nose_y"] - e["tail_y"], e["nose_x"] - e["tail_x"])
    if tr is not None:
        length = g["length"]
        for a in range(x.shape[0]):
            h = resolve_heading(tr["theta"][a], x[a], y[a], length[a], dt)
            heading[a] = np.where(np.isfinite(heading[a]), heading[a], h)
    omega = np.full(x.shape, np.nan)
    omega[:, 1:-1] = wrap(heading[:, 2:] - heading[:, :-2]) / (2 * dt)
    cols = {
        "x": (x, "px"),
        "y": (y, "px"),
        "speed": (speed, "px/s"),
        "acceleration": (P.central_diff(speed, dt), "px/s2"),
        "heading": (heading, "rad"),
        "angular_velocity": (omega, "rad/s"),
        "length": (length, "px"),
    }
    if tr is not None:
        cols["width"] = (g["width"], "px")
        cols["area"] = (g["area"], "px2")
        cols["length_rate"] = (P.central_diff(g["length"], dt), "px/s")
        cols["width_rate"] = (P.central_diff(g["width"], dt), "px/s")
        cols["area_rate"] = (P.central_diff(g["area"], dt), "px2/s")
    elif e is not None:
        cols["length_rate"] = (P.central_diff(length, dt), "px/s")
    else:
        del cols["length"]
    return cols, status


def _n_frames(tracks, keypoints) -> int:
    top = -1
    if tracks is not None and len(tracks):
        top = max(top, int(tracks["frame"].max()))
    if keypoints is not None:
        table = P.keypoint_table(keypoints)[0]
        if len(table):
            top = max(top, int(table["frame"].max()))
    return top + 1


def _scaled(cols: dict, px_per_mm: float | None) -> tuple[dict, dict]:
    """(columns as float32 [A, F] arrays, units), lengths in mm with ``px_per_mm``."""
    out, units = {}, {}
    for name, (arr, unit) in cols.items():
        if px_per_mm and unit.startswith("px"):
            power = 2 if unit.startswith("px2") else 1
            arr = arr / float(px_per_mm) ** power
            unit = ("mm2" + unit[3:]) if power == 2 else ("mm" + unit[2:])
        out[name], units[name] = np.asarray(arr, dtype=np.float32), unit
    return out, units


def compute_features(
    *,
    video: str,
    fps: float,
    animals: list[str],
    n_frames: int | None = None,
    tracks: pd.DataFrame | None = None,
    keypoints=None,
    landmarks=(),
    arena=None,
    px_per_mm: float | None = None,
    windows_s=(0.5, 1.0),
    nose: str | None = None,
    tail: str | None = None,
    progress=None,
    min_score: float = 0.5,
    exact_px: float | None = 20.0,
    edge_nodes=None,
    smooth_s: float = 0.0,
) -> tuple[pd.DataFrame, dict]:
    """The feature table of one video and its metadata (see the module docstring).

    ``tracks``: a track table (masks as RLE); ``keypoints``: a KeypointSet or its table (for
    pose-only projects the keypoints are the track source); either or both (same animals).
    ``landmarks``: keypoint nodes that are arena points; ``arena``: the arena polygon (px, track
    table coordinates) instead. ``nose``/``tail``: node names, else found among common names.
    ``n_frames``: default the last frame seen + 1. ``min_score``: keypoints below it are NaN.
    ``exact_px``: mask distances are exact for boxes at most this far apart (None: always;
    about 4x slower on a crowded hour), the box gap beyond. ``edge_nodes``: body nodes whose
    distance to the arena edge is a column (None: the nose and the tail base where found).
    ``smooth_s``: the masks' centroid, length, width and area are averaged over a centred
    window of this many seconds before speeds, rates and pair distances (segmentation jitter
    of a pixel is tens of px/s at 30 fps); 0: as tracked. ``progress``: a stream for tqdm."""
    animals = [str(a) for a in animals]
    if not animals or len(set(animals)) != len(animals):
        raise EthoflowError(f"{video}: animals must be distinct names, got {animals}")
    if tracks is None and keypoints is None:
        raise EthoflowError(f"{video}: features need a track table or keypoints")
    if not fps or fps <= 0:
        raise EthoflowError(f"{video}: frame rate must be positive, got {fps}")
    fps, dt = float(fps), 1.0 / float(fps)
    n = int(n_frames) if n_frames is not None else _n_frames(tracks, keypoints)
    tr = track_arrays(tracks, animals, n, progress) if tracks is not None else None
    ps = None
    if keypoints is not None:
        ps = _pose_setup(keypoints, animals, n, tuple(landmarks), nose, tail, min_score)
    elif landmarks:
        log.info("%s: landmarks %s need keypoints; no arena from them", video, list(landmarks))
    cols, status = _body(tr, ps, dt, window_length(smooth_s, fps) if smooth_s > 0 else 1)
    poly = np.asarray(arena, dtype=np.float64).reshape(-1, 2) if arena is not None else None
    if poly is None and ps is not None and landmarks:
        poly = P.arena_from_landmarks(ps["landmarks"], ps["path"])
    if poly is not None:
        cols["edge_distance"] = (P.edge_distance(cols["x"][0], cols["y"][0], poly), "px")
    edge_nodes = _edge_nodes(ps, edge_nodes) if poly is not None else []
    for name in edge_nodes:
        i = ps["nodes"].index(name)
        d = P.edge_distance(ps["x"][..., i], ps["y"][..., i], poly)
        cols[f"edge_distance_{name}"] = (d, "px")
    if ps is not None:
        per = [
            P.node_features(ps["x"][a], ps["y"][a], ps["nodes"], dt, ps["score"][a])
            for a in range(len(animals))
        ]
        for name, (_, unit) in per[0].items():
            cols[name] = (np.stack([p[name][0] for p in per]), unit)
    partner = np.full(status.shape, "", dtype=object)
    if len(animals) > 1:
        base = {k: cols[k][0] for k in ("x", "y", "heading", "speed")}
        pairs = pair_features(base, dt, tr, ps["ends"] if ps else None, exact_px)
        ranked, partner = rank_partners(pairs, animals)
        cols.update(ranked)
    windows = window_stats(cols, windows_s, fps)
    cols.update(windows)
    missing = status == 0
    cols = {k: (np.where(missing, np.nan, arr), unit) for k, (arr, unit) in cols.items()}
    partner[missing] = ""
    values, units = _scaled(cols, px_per_mm)
    df = _frame_table(video, animals, n, fps, status, partner, values)
    meta = {
        "video": video,
        "fps": fps,
        "n_frames": n,
        "animals": animals,
        "source": "tracks" if tracks is not None else "keypoints",
        "pose": ps is not None,
        "units": units,
        "feature_columns": list(values),
        "window_columns": list(windows),
        "windows_s": [float(w) for w in windows_s],
        "px_per_mm": float(px_per_mm) if px_per_mm else None,
        "nose": ps["nose"] if ps else None,
        "tail": ps["tail"] if ps else None,
        "body_nodes": list(ps["nodes"]) if ps else [],
        "landmarks": list(landmarks),
        "arena": poly.tolist() if poly is not None else None,
        "min_score": float(min_score),
        "exact_px": exact_px,
        "edge_nodes": list(edge_nodes),
        "smooth_s": float(smooth_s),
    }
    df.attrs["ethoflow.features"] = meta
    return df, meta


def _frame_table(video, animals, n, fps, status, partner, values) -> pd.DataFrame:
    a_n = len(animals)
    frame = np.tile(np.arange(n, dtype=np.int64), a_n)
    data = {
        "video": np.full(a_n * n, str(video), dtype=object),
        "animal": np.repeat(np.asarray(animals, dtype=object), n),
        "frame": frame,
        "time_s": frame / fps,
        "status": STATUS[status.ravel().astype(np.int64)],
        "partner": partner.ravel(),
    }
    data.update({k: v.ravel() for k, v in values.items()})
    return pd.DataFrame(data)


# --------------------------------------------------------------------------------------------
# storage


def feature_columns(meta: dict) -> list[str]:
    """The float feature columns, in order."""
    return list(meta["feature_columns"])


def write_features(df: pd.DataFrame, meta, dest: str | os.PathLike | None = None) -> None:
    """Write a feature table atomically (Parquet), ``meta`` as JSON under :data:`META_KEY`.
    ``write_features(df, dest)`` takes the metadata from ``df.attrs``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if dest is None:
        meta, dest = df.attrs.get("ethoflow.features"), meta
        if meta is None:
            raise EthoflowError(f"{dest}: no feature metadata to write (pass meta)")
    missing = [c for c in ID_COLUMNS + feature_columns(meta) if c not in df.columns]
    if missing:
        raise EthoflowError(f"{dest}: feature table lacks columns {missing}")
    table = pa.Table.from_pandas(df, preserve_index=False)
    text = json.dumps(strict_json(meta), allow_nan=False)
    table = table.replace_schema_metadata(
        {**(table.schema.metadata or {}), META_KEY: text.encode()}
    )
    with atomic_path(dest, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def read_features(path: str | os.PathLike) -> tuple[pd.DataFrame, dict]:
    """(feature table, metadata) of a file written by :func:`write_features`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except (pa.ArrowException, OSError) as e:
        raise EthoflowError(f"{path}: not a readable Parquet file ({e})") from None
    raw = (table.schema.metadata or {}).get(META_KEY)
    if raw is None:
        raise EthoflowError(f"{path}: not a feature table (no {META_KEY.decode()} metadata)")
    try:
        meta = json.loads(raw)
        cols = feature_columns(meta)
    except (ValueError, KeyError, TypeError) as e:
        raise EthoflowError(f"{path}: corrupt feature metadata ({e})") from None
    missing = [c for c in ID_COLUMNS + cols if c not in table.column_names]
    if missing:
        raise EthoflowError(f"{path}: feature table lacks columns {missing}")
    df = table.to_pandas()
    df.attrs["ethoflow.features"] = meta
    return df, meta
