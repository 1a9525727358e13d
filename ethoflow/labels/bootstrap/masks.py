"""Instance masks from keypoints: seeds from each identity's keypoints and skeleton, a geodesic
watershed between animals that touch, quality flags (see the package docstring)."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage as ndi

from ethoflow.defaults import BOOTSTRAP
from ethoflow.io import EthoflowError
from ethoflow.labels.foreground import check_image, disk, foreground_details

_CONN8 = np.ones((3, 3), bool)


#: The flags :func:`instance_masks` can give an identity, and what they mean.
FLAGS = {
    "no_keypoints": "no visible keypoint: no mask",
    "empty": "none of its keypoints lies on the foreground: no mask",
    "too_large": "area above max_area_factor x the median area of the other identities",
    "keypoints_outside": "fewer than min_keypoints_inside of its keypoints lie in its mask",
    "touching": "shares a foreground component with another identity (split by watershed)",
}


def keypoint_arrays(ks) -> dict[int, dict[str, np.ndarray]]:
    """``{frame: {identity: (K, 2) array}}`` from an :class:`ethoflow.io.keypoints.KeypointSet`
    (nodes in ``ks.nodes`` order; invisible points NaN)."""
    t = ks.table
    node_index = {n: i for i, n in enumerate(ks.nodes)}
    out: dict[int, dict[str, np.ndarray]] = {}
    # the keypoint table already holds NaN coordinates where a point is not visible
    xs, ys = t["x"].to_numpy(float), t["y"].to_numpy(float)
    rows = zip(t["frame"].to_numpy(), t["identity"].to_numpy(), t["node"].to_numpy(), xs, ys)
    for frame, idn, node, x, y in rows:
        per = out.setdefault(int(frame), {})
        arr = per.get(idn)
        if arr is None:
            arr = per[idn] = np.full((len(ks.nodes), 2), np.nan)
        arr[node_index[node]] = (x, y)
    return out


def edge_indices(nodes: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[tuple[int, int]]:
    """Skeleton edges given by node names -> ``(i, j)`` node index pairs for ``edges_idx``."""
    index = {n: i for i, n in enumerate(nodes)}
    missing = sorted({n for e in edges for n in e if n not in index})
    if missing:
        raise EthoflowError(f"skeleton edges name nodes {missing} that are not in {list(nodes)}")
    return [(index[a], index[b]) for a, b in edges]


def visible_points(kp) -> np.ndarray:
    kp = np.asarray(kp, dtype=float).reshape(-1, 2)
    return kp[np.isfinite(kp).all(axis=1)]


def _pixels(kp, shape) -> tuple[np.ndarray, np.ndarray]:
    """Rounded (row, col) of the visible keypoints, and whether each lies in the image."""
    pts = visible_points(kp)
    pts = np.clip(pts, -1e6, 1e6)
    ij = np.round(pts[:, ::-1]).astype(np.int64)
    inside = (ij[:, 0] >= 0) & (ij[:, 0] < shape[0]) & (ij[:, 1] >= 0) & (ij[:, 1] < shape[1])
    return ij, inside


def _inside_count(mask: np.ndarray, kp) -> int:
    ij, ok = _pixels(kp, mask.shape)
    ij = ij[ok]
    return int(mask[ij[:, 0], ij[:, 1]].sum())


def _disks(shape, keypoints, radius: int, only=None) -> np.ndarray:
    """Bool mask of disks of ``radius`` around the visible keypoints (``only``: a bool mask the
    keypoint's own pixel must lie in)."""
    out = np.zeros(shape[:2], np.uint8)
    for kp in keypoints:
        ij, ok = _pixels(kp, shape)
        near = (ij[:, 0] >= -radius) & (ij[:, 0] < shape[0] + radius)
        near &= (ij[:, 1] >= -radius) & (ij[:, 1] < shape[1] + radius)
        for (r, c), o, n in zip(ij, ok, near, strict=True):
            if n and (only is None or (o and only[r, c])):
                cv2.circle(out, (int(c), int(r)), max(0, int(radius)), 1, -1)
    return out.astype(bool)


def keypoint_exclusion(
    shape: tuple[int, ...], keypoints: dict[str, np.ndarray], *, pad_factor: float = 0.3
) -> np.ndarray:
    """Bool HxW mask covering every identity: the convex hull of its visible keypoints grown by
    ``pad_factor`` x the hull's largest extent (at least 5 px), for ``background_model``."""
    h, w = shape[:2]
    out = np.zeros((h, w), np.uint8)
    for kp in keypoints.values():
        pts = np.clip(visible_points(kp), -4 * max(h, w), 4 * max(h, w))
        if len(pts) == 0:
            continue
        extent = float(np.ptp(pts, axis=0).max())
        pad = max(5, int(round(pad_factor * extent)))
        hull = cv2.convexHull(np.round(pts).astype(np.int32).reshape(-1, 1, 2))
        cv2.fillConvexPoly(out, hull, 1)
        cv2.polylines(out, [hull], True, 1, thickness=2 * pad + 1)
        for x, y in np.round(pts).astype(int):
            cv2.circle(out, (int(x), int(y)), pad, 1, -1)
    return out.astype(bool)


def _thin_parts(mask: np.ndarray, thin_px: int) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` split into its broad part and its thin part (narrower than 2 * thin_px + 1)."""
    kernel = disk(thin_px)
    core = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    broad = mask & cv2.dilate(core, kernel).astype(bool)
    return broad, mask & ~broad


def _refine(fg, score, threshold, keypoints, thin_px: int, hysteresis: float, radius: int):
    """Keep the broad part of the foreground; of thin structures keep those that come within
    ``radius`` of a keypoint lying more than ``radius`` off the broad part (a leg labelled at
    its tip; not a tail or a floor mark starting at the tail base or snout), traced down to
    ``hysteresis`` x the threshold so that faint legs reach their tips."""
    if thin_px <= 0:
        return fg
    broad, _ = _thin_parts(fg, thin_px)
    weak = (score > hysteresis * threshold) | fg
    _, thin = _thin_parts(weak & ~broad, thin_px)
    lab, n = ndi.label(thin, structure=_CONN8)
    if n:
        off_body = ndi.distance_transform_edt(~broad) > radius if broad.any() else ~broad
        near = _disks(fg.shape, keypoints, radius, only=off_body)
        keep = np.zeros(n + 1, bool)
        keep[lab[near]] = True
        keep[0] = False
        broad = broad | keep[lab]
    return ndi.binary_fill_holes(broad)


def _line_on_fg(p, q, fg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, cols) of segment p -> q (x, y), followed from each end only while on ``fg``."""
    p = np.clip(np.asarray(p, float), -1e6, 1e6)
    q = np.clip(np.asarray(q, float), -1e6, 1e6)
    n = min(int(np.ceil(2 * np.hypot(*(q - p)))) + 1, 4 * sum(fg.shape))
    t = np.linspace(0.0, 1.0, max(n, 2))
    xs = np.round(p[0] + t * (q[0] - p[0])).astype(np.int64)
    ys = np.round(p[1] + t * (q[1] - p[1])).astype(np.int64)
    h, w = fg.shape
    ok = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    on = np.zeros(len(t), bool)
    on[ok] = fg[ys[ok], xs[ok]]
    off = np.flatnonzero(~on)
    keep = np.ones(len(t), bool)
    if len(off):
        keep[off[0] : off[-1] + 1] = False
    return ys[keep], xs[keep]


def _seeds(keypoints: list[np.ndarray], fg: np.ndarray, edges_idx, seed_radius: int):
    """int32 HxW: k + 1 where identity k seeds, 0 elsewhere. Seeds lie on the foreground;
    keypoint disks take precedence over skeleton lines; a pixel two identities claim at the
    same level is nobody's seed."""
    levels = []
    for kind in ("lines", "disks"):
        lab = np.zeros(fg.shape, np.int32)
        clash = np.zeros(fg.shape, bool)
        for k, kp in enumerate(keypoints, start=1):
            if kind == "disks":
                own = _disks(fg.shape, [kp], seed_radius)
            else:
                own = np.zeros(fg.shape, bool)
                for i, j in edges_idx or ():
                    if max(i, j) < len(kp) and np.isfinite(kp[[i, j]]).all():
                        own[_line_on_fg(kp[i], kp[j], fg)] = True
            own &= fg
            clash |= own & (lab > 0)
            lab[own] = k
        lab[clash] = 0
        levels.append(lab)
    lines, disks = levels
    return np.where(disks > 0, disks, lines)


_STEPS = [(dr, dc, float(np.hypot(dr, dc))) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if dr or dc]


def _split(comp: np.ndarray, seeds: np.ndarray, step_cost: np.ndarray) -> np.ndarray:
    """Geodesic watershed of one component: each pixel goes to the seed that reaches it at the
    least cost through the component; a step costs its length times ``step_cost`` (>= 1) of the
    pixel entered. Returns labels (int32, the shape of ``comp``; 0 outside it)."""
    rows, cols = np.nonzero(comp)
    box = np.s_[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
    sub = comp[box]
    lab = np.where(sub, seeds[box], 0).astype(np.int32)
    h, w = sub.shape
    heap = [(0.0, int(r), int(c)) for r, c in zip(*np.nonzero(lab), strict=True)]
    dist = np.full((h, w), np.inf)
    dist[lab > 0] = 0.0
    sub_l, cost_l = sub.tolist(), step_cost[box].tolist()
    dist_l, lab_l = dist.tolist(), lab.tolist()
    while heap:
        d, r, c = heapq.heappop(heap)
        if d > dist_l[r][c]:
            continue
        k = lab_l[r][c]
        for dr, dc, length in _STEPS:
            rr, cc = r + dr, c + dc
            if 0 <= rr < h and 0 <= cc < w and sub_l[rr][cc]:
                nd = d + length * cost_l[rr][cc]
                if nd < dist_l[rr][cc]:
                    dist_l[rr][cc] = nd
                    lab_l[rr][cc] = k
                    heapq.heappush(heap, (nd, rr, cc))
    out = np.zeros(comp.shape, np.int32)
    out[box] = np.where(sub, np.asarray(lab_l, np.int32), 0)
    return out


def instance_masks(
    image: np.ndarray,
    keypoints: dict[str, np.ndarray],
    *,
    background: np.ndarray | None = None,
    edges_idx: Sequence[tuple[int, int]] | None = None,
    seed_radius: int = BOOTSTRAP["seed_radius"],
    dilate: int = BOOTSTRAP["dilate"],
    max_area_factor: float = BOOTSTRAP["max_area_factor"],
    min_keypoints_inside: float = BOOTSTRAP["min_keypoints_inside"],
    inside_px: int = BOOTSTRAP["inside_px"],
    thin_px: int = BOOTSTRAP["thin_px"],
    hysteresis: float = BOOTSTRAP["hysteresis"],
    seam_cost: float = BOOTSTRAP["seam_cost"],
    smooth_px: float = BOOTSTRAP["smooth_px"],
    **fg_kw,
) -> tuple[dict[str, np.ndarray], dict]:
    """One bool HxW mask per identity from its keypoints, and quality info.

    ``keypoints``: identity -> ``(K, 2)`` float array of ``(x, y)`` pixel coordinates, NaN rows
    not visible. ``edges_idx``: skeleton edges as ``(i, j)`` node index pairs (see
    :func:`edge_indices`); drawn between visible keypoints, they seed the whole body, not just
    the keypoints. ``fg_kw`` go to :func:`foreground` (``diff_threshold``, ``polarity``, ...).
    ``thin_px`` and ``hysteresis``: see the module docstring (``thin_px=0``: no refinement).
    Touching animals are split by a geodesic watershed whose step cost is ``1 + seam_cost`` x
    how little a pixel looks like animal (0..1, after a Gaussian blur of ``smooth_px``); with
    ``seam_cost=0`` the split is the plain geodesic Voronoi of the seeds. ``dilate`` grows each
    final mask by that many px, never onto another identity's mask.

    Returns ``(masks, info)``. ``masks`` holds the identities that got a non-empty mask; masks
    never overlap. ``info[identity]`` for every identity in ``keypoints``: ``area`` (px),
    ``keypoints_inside`` (fraction of its visible keypoints lying in its mask or within
    ``inside_px`` px of it: keypoints on tips and outlines are labelled to a pixel or two;
    NaN without visible keypoints), ``n_keypoints`` (visible) and ``flags`` (list of
    :data:`FLAGS` keys; ``keypoints_outside`` below ``min_keypoints_inside``, ``too_large``
    above ``max_area_factor`` x the median area of the others: reported, the mask is kept).
    """
    image = check_image(image)
    ids = list(keypoints)
    kps = []
    for idn in ids:
        kp = np.asarray(keypoints[idn], dtype=float)
        if kp.ndim != 2 or kp.shape[1] != 2:
            raise EthoflowError(f"keypoints of {idn!r} have shape {kp.shape}: expected (K, 2)")
        kps.append(kp)
    if not 0 < hysteresis <= 1:
        raise EthoflowError(f"hysteresis {hysteresis} is not in (0, 1]")
    fg, likeness, score, threshold = foreground_details(image, background, **fg_kw)
    radius = max(2, int(seed_radius))
    fg = _refine(fg, score, threshold, kps, int(thin_px), hysteresis, radius)

    seeds = _seeds(kps, fg, edges_idx, int(seed_radius))
    region, touching = _regions(fg, seeds, likeness, seam_cost, smooth_px)

    masks: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    for k, (idn, kp) in enumerate(zip(ids, kps, strict=True), start=1):
        n_kp = len(visible_points(kp))
        info[idn] = dict(area=0, keypoints_inside=float("nan"), n_keypoints=n_kp, flags=[])
        if n_kp == 0:
            info[idn]["flags"].append("no_keypoints")
            continue
        mine = region == k
        if k in touching:
            info[idn]["flags"].append("touching")
            # only the pieces of its watershed region that hold its own seeds
            pieces, _ = ndi.label(mine, structure=_CONN8)
            held = np.unique(pieces[seeds == k])
            mine = np.isin(pieces, held[held > 0])
        if mine.any():
            masks[idn] = mine

    if dilate > 0 and masks:
        masks = _grow(masks, int(dilate))
    _quality(masks, info, ids, kps, max_area_factor, min_keypoints_inside, inside_px)
    return masks, info


def _regions(fg, seeds, likeness, seam_cost: float, smooth_px: float):
    """Watershed regions (int32 HxW, k + 1 for identity k) of the foreground components holding
    seeds, and the identities that share a component with another (touching)."""
    h, w = fg.shape
    comps, _ = ndi.label(fg, structure=_CONN8)
    region = np.zeros((h, w), np.int32)
    touching: set[int] = set()
    seeded = seeds > 0
    by_comp: dict[int, list[int]] = {}
    for c, k in np.unique(np.stack([comps[seeded], seeds[seeded]], axis=1), axis=0).tolist():
        by_comp.setdefault(c, []).append(k)
    slices = ndi.find_objects(comps)
    step_cost = None
    for c, ks in by_comp.items():
        sl = slices[c - 1]
        comp = comps[sl] == c
        if len(ks) == 1:
            region[sl][comp] = ks[0]
            continue
        touching.update(ks)
        if step_cost is None:
            like = cv2.GaussianBlur(likeness, (0, 0), smooth_px) if smooth_px > 0 else likeness
            step_cost = 1.0 + seam_cost * (255.0 - like.astype(np.float64)) / 255.0
        region[sl][comp] = _split(comp, seeds[sl], step_cost[sl])[comp]
    return region, touching


def _grow(masks: dict[str, np.ndarray], dilate: int) -> dict[str, np.ndarray]:
    """Each mask grown by ``dilate`` px onto pixels no other mask holds or claims."""
    shape = next(iter(masks.values())).shape
    taken = np.zeros(shape, bool)
    claims = np.zeros(shape, np.int32)
    grown = {}
    for idn, m in masks.items():
        taken |= m
        grown[idn] = cv2.dilate(m.astype(np.uint8), disk(int(dilate))).astype(bool)
        claims += grown[idn]
    for idn in masks:
        masks[idn] = masks[idn] | (grown[idn] & ~taken & (claims == 1))
    return masks


def _quality(masks, info, ids, kps, max_area_factor, min_keypoints_inside, inside_px) -> None:
    """Area, keypoints inside and flags of every identity with keypoints, into ``info``."""
    areas = {idn: int(m.sum()) for idn, m in masks.items()}
    for idn, kp in zip(ids, kps, strict=True):
        d = info[idn]
        if d["n_keypoints"] == 0:
            continue
        if idn not in masks:
            d["flags"].append("empty")
            d["keypoints_inside"] = 0.0
            continue
        d["area"] = areas[idn]
        others = [v for o, v in areas.items() if o != idn]
        if others and areas[idn] > max_area_factor * float(np.median(others)):
            d["flags"].append("too_large")
        near = masks[idn]
        if inside_px > 0:
            near = cv2.dilate(near.astype(np.uint8), disk(int(inside_px))).astype(bool)
        d["keypoints_inside"] = _inside_count(near, kp) / d["n_keypoints"]
        if d["keypoints_inside"] < min_keypoints_inside:
            d["flags"].append("keypoints_outside")
