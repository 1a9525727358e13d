"""Bootstrap instance masks from keypoint labels (SLEAP, DeepLabCut).

Many labs hold keypoints, not outlines. This module turns each identity's keypoints in a frame
into an instance mask and writes it as LabelMe polygons, so the masks feed the same annotation
import as hand-drawn ones (one class per identity).

1. **Foreground** (:func:`foreground`): pixels that differ from a background model
   (:func:`background_model`) by more than ``diff_threshold``, or, without a background, an
   adaptive threshold for animals darker or lighter than their surroundings; then an opening,
   a closing, hole filling, and specks under ``min_area`` px dropped. With keypoints
   (:func:`instance_masks`) the foreground is then refined: thin structures (narrower than
   ``2 * thin_px + 1`` px: tails, floor marks, the neck to a reflection in a wall) are dropped
   unless they reach a keypoint lying off the body (a leg labelled at its tip), and those legs
   are traced down to ``hysteresis`` x the threshold, so faint tarsi reach their labelled tips.
2. **Split**: each identity seeds its visible keypoints (disks of ``seed_radius``) and its
   skeleton edges (lines, followed from each end only while they stay on the foreground). A
   foreground component holding the seeds of one identity goes to it whole; a component holding
   seeds of several (animals touching) is split by a geodesic watershed: every pixel goes to the
   identity whose seeds reach it at the least cost through the component, a step costing more
   on pixels that look less like animal (the dark seam between two light flies), so the cut
   follows the seam. An identity keeps only the pieces of its region that hold its own seeds;
   foreground holding no seed (dirt, reflections, hairs) is left out.
3. **Quality**: per identity the area, the fraction of its visible keypoints inside its mask and
   flags (:data:`FLAGS`), written beside the LabelMe files as ``bootstrap.csv``.

Keypoints are ``(K, 2)`` float arrays of ``(x, y)`` pixel coordinates with ``(0, 0)`` at the
centre of the top-left pixel (as :mod:`ethoflow.keypoints` reads SLEAP and DeepLabCut files);
NaN rows are keypoints that are not visible.

Choosing parameters: a background model is much better than the adaptive threshold when the
camera is still. Where animals rest for long stretches (the SLEAP fly clip: both flies sit
still for the first two thirds) the plain median keeps them: build it from labelled frames with
the animals cut out (:func:`background_model` with ``exclude`` from
:func:`keypoint_exclusion`, as :func:`bootstrap_video` does). ``diff_threshold``
must sit below the faintest animal part to keep (fly wings: 30-120 grey levels) and above
shadows and motion blur around the animal (a black mouse on a white floor: shadows to 60):
25 for the flies, 50 for the DeepLabCut mouse.
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi

from ethoflow.io import EthoflowError, atomic_dir, read_json, read_rgb
from ethoflow.io.draw import identity_colors
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name
from ethoflow.io.labelme import write_labelme

log = logging.getLogger(__name__)

POLARITIES = ("auto", "dark", "light")
_CONN8 = np.ones((3, 3), bool)

#: The flags :func:`instance_masks` can give an identity, and what they mean.
FLAGS = {
    "no_keypoints": "no visible keypoint: no mask",
    "empty": "none of its keypoints lies on the foreground: no mask",
    "too_large": "area above max_area_factor x the median area of the other identities",
    "keypoints_outside": "fewer than min_keypoints_inside of its keypoints lie in its mask",
    "touching": "shares a foreground component with another identity (split by watershed)",
}
TABLE_COLUMNS = ["name", "identity", "area", "keypoints_inside", "flags"]


# ----------------------------------------------------------------------------------------------
# Keypoint helpers
# ----------------------------------------------------------------------------------------------


def keypoint_arrays(ks) -> dict[int, dict[str, np.ndarray]]:
    """``{frame: {identity: (K, 2) array}}`` from an :class:`ethoflow.keypoints.KeypointSet`
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


def _visible(kp) -> np.ndarray:
    kp = np.asarray(kp, dtype=float).reshape(-1, 2)
    return kp[np.isfinite(kp).all(axis=1)]


def _pixels(kp, shape) -> tuple[np.ndarray, np.ndarray]:
    """Rounded (row, col) of the visible keypoints, and whether each lies in the image."""
    pts = _visible(kp)
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
        pts = np.clip(_visible(kp), -4 * max(h, w), 4 * max(h, w))
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


# ----------------------------------------------------------------------------------------------
# Foreground
# ----------------------------------------------------------------------------------------------


def _check_image(image, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise EthoflowError(f"{what} has shape {image.shape}: expected HxW or HxWx3")
    if image.dtype != np.uint8:
        raise EthoflowError(f"{what} has dtype {image.dtype}: expected uint8")
    return image


def grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return image


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def background_model(
    frames: Sequence[np.ndarray],
    *,
    percentile: float = 50.0,
    exclude: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Per-pixel median (or ``percentile``) of ``frames`` sampled across a video (uint8, the
    frames' shape).

    Animals that move vanish from the median. Animals that rest in one place for more than half
    the sampled frames stay in it: then pass ``exclude``, one bool HxW mask per frame, True where
    that frame shows an animal (from :func:`keypoint_exclusion`), or take a low percentile (e.g.
    10) for light animals on a dark floor, a high one (90) for dark animals on a light floor.
    Pixels excluded in every frame (an animal that never moved away) are inpainted from the
    floor around them.
    """
    if len(frames) == 0:
        raise EthoflowError("background_model: no frames given")
    shapes = {np.asarray(f).shape for f in frames}
    if len(shapes) != 1:
        raise EthoflowError(f"background_model: frames differ in shape: {sorted(shapes)}")
    if not 0 <= percentile <= 100:
        raise EthoflowError(f"background_model: percentile {percentile} is not in 0..100")
    stack = np.stack([_check_image(f, "background frame") for f in frames])
    n, h = stack.shape[:2]
    if exclude is not None:
        if len(exclude) != n:
            raise EthoflowError(f"background_model: {len(exclude)} exclusion masks, {n} frames")
        ex = np.stack([np.asarray(e, dtype=bool) for e in exclude])
        if ex.shape != stack.shape[:3]:
            raise EthoflowError(
                f"background_model: exclusion masks are {ex.shape[1:]}, frames {stack.shape[1:3]}"
            )
    out = np.empty(stack.shape[1:], np.uint8)
    never = np.zeros(stack.shape[1:3], bool)
    q = percentile / 100.0
    for r0 in range(0, h, 64):  # row blocks bound the memory of the sort
        vals = np.moveaxis(stack[:, r0 : r0 + 64], 0, -1)  # (rows, W[, C], N)
        if exclude is None:
            out[r0 : r0 + 64] = np.sort(vals, axis=-1)[..., int(round(q * (n - 1)))]
            continue
        exb = np.moveaxis(ex[:, r0 : r0 + 64], 0, -1)
        if vals.ndim == 4:
            exb = np.broadcast_to(exb[:, :, None, :], vals.shape)
        valid = (~exb).sum(axis=-1)
        masked = np.sort(np.where(exb, np.uint16(65535), vals.astype(np.uint16)), axis=-1)
        k = np.round(q * np.maximum(valid - 1, 0)).astype(np.int64)
        picked = np.take_along_axis(masked, k[..., None], axis=-1)[..., 0]
        out[r0 : r0 + 64] = picked.astype(np.uint8)
        never[r0 : r0 + 64] = (valid == 0) if valid.ndim == 2 else (valid == 0).any(axis=-1)
    if never.any():
        # An animal that never left these pixels in the sampled frames: fill them from the
        # floor around them, never from the animal itself.
        log.info("background: %d px never free of animals, filled from around them", never.sum())
        if never.all():
            raise EthoflowError("background_model: every pixel is excluded in every frame")
        out = cv2.inpaint(out, never.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return out


def _auto_polarity(grey: np.ndarray) -> str:
    """Animals are the minority of pixels: on a dark floor they are light, and vice versa."""
    return "light" if float(np.median(grey)) < 128 else "dark"


def _clean(mask: np.ndarray, min_area: int, open_px: int, close_px: int) -> np.ndarray:
    m = mask.astype(np.uint8)
    if open_px > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, _disk(open_px))
    if close_px > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, _disk(close_px))
    m = ndi.binary_fill_holes(m)
    return large_components(m, min_area) if min_area > 0 else m.astype(bool)


def large_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` (bool HxW) without its 8-connected components under ``min_area`` px."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[lab]


def foreground(
    image: np.ndarray,
    background: np.ndarray | None = None,
    *,
    diff_threshold: float = 25,
    polarity: str = "auto",
    block_size: int = 51,
    offset: float = 10,
    min_area: int = 30,
    open_px: int = 1,
    close_px: int = 2,
) -> np.ndarray:
    """Bool HxW mask of the animals in ``image`` (HxW grey or HxWx3 RGB uint8).

    With a ``background`` (from :func:`background_model`): pixels whose difference to it
    (grey, or the largest over the colour channels) exceeds ``diff_threshold``; ``polarity``
    "light" counts only pixels brighter than the background, "dark" only darker ones, "auto"
    both. Without: an adaptive threshold, pixels lighter ("light") or darker ("dark") than the
    mean of the ``block_size`` px square around them by more than ``offset``; "auto" takes light
    animals where the image's median grey is below 128, dark ones otherwise. Then an opening
    (disk of radius ``open_px``: noise), a closing (``close_px``), hole filling, and components
    under ``min_area`` px are dropped.
    """
    return _foreground(
        image,
        background,
        diff_threshold=diff_threshold,
        polarity=polarity,
        block_size=block_size,
        offset=offset,
        min_area=min_area,
        open_px=open_px,
        close_px=close_px,
    )[0]


def _foreground(
    image,
    background,
    *,
    diff_threshold=25,
    polarity="auto",
    block_size=51,
    offset=10,
    min_area=30,
    open_px=1,
    close_px=2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The foreground, the animal-likeness image (uint8, high on animals), the score that was
    thresholded (float32) and its threshold."""
    image = _check_image(image)
    if polarity not in POLARITIES:
        raise EthoflowError(f"polarity {polarity!r} is not one of {POLARITIES}")
    g = grey(image)
    if background is not None:
        background = _check_image(background, "background")
        if background.shape[:2] != image.shape[:2]:
            raise EthoflowError(
                f"the background is {background.shape[1]}x{background.shape[0]} but the image "
                f"is {image.shape[1]}x{image.shape[0]} (width x height)"
            )
        img, bg = image.astype(np.float32), background.astype(np.float32)
        if img.shape != bg.shape:
            img, bg = g.astype(np.float32), grey(background).astype(np.float32)
        diff = img - bg
        score = {"light": diff, "dark": -diff, "auto": np.abs(diff)}[polarity]
        if score.ndim == 3:
            score = score.max(axis=2)
        threshold = float(diff_threshold)
        likeness = np.clip(score, 0, 255).astype(np.uint8)
    else:
        if polarity == "auto":
            polarity = _auto_polarity(g)
        block = max(3, int(block_size) | 1)
        local = cv2.blur(g.astype(np.float32), (block, block), borderType=cv2.BORDER_REPLICATE)
        score = g - local if polarity == "light" else local - g
        threshold = float(offset)
        likeness = g if polarity == "light" else 255 - g
    fg = _clean(score > threshold, int(min_area), int(open_px), int(close_px))
    return fg, likeness, score, threshold


def _thin_parts(mask: np.ndarray, thin_px: int) -> tuple[np.ndarray, np.ndarray]:
    """``mask`` split into its broad part and its thin part (narrower than 2 * thin_px + 1)."""
    disk = _disk(thin_px)
    core = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disk)
    broad = mask & cv2.dilate(core, disk).astype(bool)
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


# ----------------------------------------------------------------------------------------------
# Seeds and split
# ----------------------------------------------------------------------------------------------


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
    seed_radius: int = 2,
    dilate: int = 0,
    max_area_factor: float = 4.0,
    min_keypoints_inside: float = 0.9,
    inside_px: int = 2,
    thin_px: int = 4,
    hysteresis: float = 0.25,
    seam_cost: float = 4.0,
    smooth_px: float = 1.0,
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
    image = _check_image(image)
    h, w = image.shape[:2]
    ids = list(keypoints)
    kps = []
    for idn in ids:
        kp = np.asarray(keypoints[idn], dtype=float)
        if kp.ndim != 2 or kp.shape[1] != 2:
            raise EthoflowError(f"keypoints of {idn!r} have shape {kp.shape}: expected (K, 2)")
        kps.append(kp)
    if not 0 < hysteresis <= 1:
        raise EthoflowError(f"hysteresis {hysteresis} is not in (0, 1]")
    fg, likeness, score, threshold = _foreground(image, background, **fg_kw)
    radius = max(2, int(seed_radius))
    fg = _refine(fg, score, threshold, kps, int(thin_px), hysteresis, radius)

    seeds = _seeds(kps, fg, edges_idx, int(seed_radius))
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

    masks: dict[str, np.ndarray] = {}
    info: dict[str, dict] = {}
    for k, (idn, kp) in enumerate(zip(ids, kps, strict=True), start=1):
        n_kp = len(_visible(kp))
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
        taken = np.zeros((h, w), bool)
        claims = np.zeros((h, w), np.int32)
        grown = {}
        for idn, m in masks.items():
            taken |= m
            grown[idn] = cv2.dilate(m.astype(np.uint8), _disk(int(dilate))).astype(bool)
            claims += grown[idn]
        for idn in masks:
            masks[idn] = masks[idn] | (grown[idn] & ~taken & (claims == 1))

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
            near = cv2.dilate(near.astype(np.uint8), _disk(int(inside_px))).astype(bool)
        d["keypoints_inside"] = _inside_count(near, kp) / d["n_keypoints"]
        if d["keypoints_inside"] < min_keypoints_inside:
            d["flags"].append("keypoints_outside")
    return masks, info


# ----------------------------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------------------------


def _check_frame(name: str, image, shape) -> np.ndarray:
    image = _check_image(image, f"frame {name}")
    if shape is not None and image.shape != shape:
        raise EthoflowError(
            f"frame {name}: image of shape {image.shape}, but the other frames are {shape}"
        )
    return image


def _even(items: list, n: int) -> list:
    """At most ``n`` of ``items``, evenly spread, first and last included."""
    if len(items) <= n:
        return list(items)
    return [items[int(round(i))] for i in np.linspace(0, len(items) - 1, n)]


def bootstrap_frames(
    frames: dict[str, np.ndarray],
    keypoints: dict[str, dict[str, np.ndarray]],
    out_dir: str | os.PathLike,
    *,
    background: np.ndarray | None = None,
    edges_idx: Sequence[tuple[int, int]] | None = None,
    progress=None,
    overlays: int = 0,
    **kw,
) -> pd.DataFrame:
    """Masks from keypoints for every frame: ``out_dir/{name}.png`` (the image),
    ``out_dir/{name}.json`` (LabelMe polygons, one per identity) and ``out_dir/bootstrap.csv``
    (the returned table). The folder appears whole or not at all (it replaces an older one).
    ``overlays``: that many frames, evenly spread, are also drawn with their masks and
    keypoints (:func:`overlay`) as ``out_dir/overlays/{name}.png``, for the report.

    ``frames``: name (e.g. ``fly_000123``) -> image (HxWx3 RGB or HxW uint8, all one shape);
    ``keypoints``: name -> {identity: (K, 2)} (every frame needs an entry). ``background``: an
    image from :func:`background_model`, or None (adaptive threshold). ``kw`` go to
    :func:`instance_masks`.
    ``progress``: a file for a tqdm bar (None: no bar). The table has a row per frame and
    identity: ``name, identity, area, keypoints_inside, flags`` (flags joined by ``;``).
    """
    from tqdm import tqdm

    missing = [n for n in frames if n not in keypoints]
    if missing:
        raise EthoflowError(f"bootstrap: no keypoints for frames {missing[:5]}")
    out_dir = Path(out_dir)
    rows = []
    with atomic_dir(out_dir) as tmp:
        shape = None
        bar = tqdm(
            frames.items(),
            total=len(frames),
            file=progress,
            disable=progress is None,
            desc="masks from keypoints",
            unit="frame",
        )
        names = list(frames)
        drawn = set(_even(names, int(overlays))) if overlays > 0 else set()
        if drawn:
            (tmp / "overlays").mkdir()
        for name, image in bar:
            image = _check_frame(name, image, shape)
            shape = image.shape
            try:
                masks, info = instance_masks(
                    image, keypoints[name], background=background, edges_idx=edges_idx, **kw
                )
            except EthoflowError as e:
                raise EthoflowError(f"frame {name}: {e}") from None
            png = tmp / f"{name}.png"
            write_png(image, png)
            write_labelme(
                tmp / f"{name}.json",
                [(idn, masks[idn]) for idn in sorted(masks) if masks[idn].any()],
                image_path=png,
                image_shape=shape,
            )
            if name in drawn:
                view = zoomed_overlay(image, masks, keypoints[name])
                write_png(view, tmp / "overlays" / f"{name}.png")
            for idn, d in info.items():
                rows.append(
                    dict(
                        name=name,
                        identity=idn,
                        area=d["area"],
                        keypoints_inside=d["keypoints_inside"],
                        flags=";".join(d["flags"]),
                    )
                )
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        table.to_csv(tmp / "bootstrap.csv", index=False)
    n_flagged = int((table["flags"].str.len() > 0).sum()) if len(table) else 0
    log.info(
        "masks from keypoints: %d frames, %d instances (%d flagged) in %s",
        len(frames),
        len(table),
        n_flagged,
        out_dir,
    )
    return table


def zoomed_overlay(
    image: np.ndarray, masks: dict, keypoints: dict | None, pad: float = 0.5, size: int = 256
) -> np.ndarray:
    """:func:`overlay` of the part of ``image`` around the animals (their masks and keypoints,
    grown by ``pad`` x their extent, at least 32 px, square), enlarged to about ``size`` px
    first: small animals in a large frame stay visible in the report."""
    image = _check_image(image)
    h, w = image.shape[:2]
    keypoints = keypoints or {}
    pts = [np.argwhere(np.asarray(m))[:, ::-1] for m in masks.values()]
    pts += [_visible(kp) for kp in keypoints.values()]
    pts = [p for p in pts if len(p)]
    if not pts:
        return overlay(image, masks, keypoints)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    side = int(min(max(h, w), max(32.0, float((hi - lo).max()) * (1 + 2 * pad))))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, w - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, h - side)))
    box = np.s_[y0 : y0 + side, x0 : x0 + side]
    k = max(1, size // side)

    def up(a):
        return np.kron(a, np.ones((k, k) + (1,) * (a.ndim - 2), a.dtype)) if k > 1 else a

    crop = up(np.ascontiguousarray(image[box]))
    crop_masks = {i: up(np.asarray(m, bool)[box]) for i, m in masks.items()}
    crop_kps = {
        i: (np.asarray(kp, float) - [x0, y0]) * k + (k - 1) / 2 for i, kp in keypoints.items()
    }
    return overlay(crop, crop_masks, crop_kps)


def overlay(
    image: np.ndarray,
    masks: dict[str, np.ndarray],
    keypoints: dict[str, np.ndarray] | None = None,
    *,
    alpha: float = 0.45,
) -> np.ndarray:
    """RGB uint8 copy of ``image`` with each identity's mask filled translucently, its outline
    drawn and its keypoints as dots; one colour per identity (by sorted name, from
    :func:`ethoflow.io.draw.identity_colors`)."""
    image = _check_image(image)
    out = image if image.ndim == 3 else image[:, :, None]
    out = np.ascontiguousarray(np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out[:, :, :3])
    out = out.copy()
    ids = sorted(set(masks) | set(keypoints or {}))
    colors = {
        i: tuple(int(round(255 * c)) for c in col)
        for i, col in zip(ids, identity_colors(ids), strict=True)
    }
    thick = max(1, round(max(out.shape[:2]) / 500))
    for idn, m in masks.items():
        m = np.asarray(m, bool)
        blend = (1 - alpha) * out[m] + alpha * np.array(colors[idn], np.float32)
        out[m] = np.round(blend).astype(np.uint8)
    for idn, m in masks.items():
        contours, _ = cv2.findContours(
            np.asarray(m, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, colors[idn], thick, lineType=cv2.LINE_AA)
    for idn, kp in (keypoints or {}).items():
        for x, y in np.clip(_visible(kp), -1e5, 1e5):
            centre = (int(round(x)), int(round(y)))
            cv2.circle(out, centre, thick + 2, (0, 0, 0), -1, lineType=cv2.LINE_AA)
            cv2.circle(out, centre, thick + 1, colors[idn], -1, lineType=cv2.LINE_AA)
    return out


# ----------------------------------------------------------------------------------------------
# One video of the workflow
# ----------------------------------------------------------------------------------------------

#: Keys of the config's ``bootstrap`` section that choose frames; every other key goes to
#: :func:`instance_masks` (and through it to :func:`foreground`).
_VIDEO_KEYS = ("frames", "background_frames", "overlay_frames")


def _extracted_indices(frames_dir: Path) -> list[int]:
    meta = frames_dir / "frames.json"
    if not meta.is_file():
        raise EthoflowError(f"{meta}: not found (the frame extraction writes it)")
    doc = read_json(meta)
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise EthoflowError(f"{meta}: no `frames` list")
    return sorted(int(i) for i in doc["frames"])


def bootstrap_video(
    video_path: str | os.PathLike,
    keypoints_path: str | os.PathLike,
    frames_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    video: str,
    settings: dict,
    progress=None,
) -> pd.DataFrame:
    """The workflow's step: LabelMe files of masks bootstrapped from one video's keypoints.

    ``keypoints_path``: the video's keypoint table (:func:`ethoflow.keypoints.write_keypoints`,
    already in the coordinates of ``video_path``). ``settings``: the config's ``bootstrap``
    section. ``frames: extracted`` bootstraps the frames the frame extraction picked
    (``frames_dir/frames.json``) that have keypoints; ``frames: labelled`` every labelled frame
    (for DeepLabCut projects: the labelled images, which need not come from this video).
    The background is the median of ``background_frames`` labelled frames (images) spread over
    the labels, with each animal cut out around its keypoints, so animals that rest do not
    become background. Files are named ``{video}_{frame:06d}`` (a frame of the video, so a
    corrected file of the same name in the labels folder replaces it) or
    ``{video}_image-{stem}`` (a labelled image that is not a frame of the video).
    """
    from ethoflow.io import keypoints as K
    from ethoflow.io import video as V

    settings = dict(settings or {})
    mode = settings.get("frames", "extracted")
    if mode not in ("extracted", "labelled"):
        raise EthoflowError(f"bootstrap.frames is {mode!r}: expected 'extracted' or 'labelled'")
    n_background = int(settings.get("background_frames", 50))
    n_overlays = int(settings.get("overlay_frames", 0))
    mask_kw = {k: v for k, v in settings.items() if k not in _VIDEO_KEYS}

    ks = K.load_keypoints(keypoints_path)
    per_frame = keypoint_arrays(ks)
    edges_idx = edge_indices(ks.nodes, ks.edges)
    on_images = ks.table["image"].notna().any()
    images = {}
    if on_images:
        first = ks.table.groupby("frame", sort=True)["image"].first()
        images = {int(f): str(p) for f, p in first.items()}

    labelled = sorted(per_frame)
    if mode == "extracted":
        if on_images:
            raise EthoflowError(
                f"{keypoints_path}: the keypoints label images, not frames of {video_path}, so "
                "the extracted frames have none: set bootstrap.frames: labelled"
            )
        extracted = _extracted_indices(Path(frames_dir))
        chosen = [f for f in extracted if f in per_frame]
        if not chosen:
            raise EthoflowError(
                f"{keypoints_path}: none of the {len(extracted)} frames extracted from "
                f"{video_path} has keypoints (labelled frames: {labelled[:5]}...): label them, "
                "or set bootstrap.frames: labelled"
            )
        log.info("%s: %d of %d extracted frames have keypoints", video, len(chosen), len(extracted))
    else:
        chosen = labelled
    background_src = _even(labelled, n_background)

    def name_of(f: int) -> str:
        if on_images:
            return f"{video}_image-{Path(images[f]).stem}"
        return frame_name(video, f)

    wanted = sorted(set(chosen) | set(background_src))
    if on_images:
        pixels = {f: read_rgb(images[f], "labelled image") for f in wanted}
    else:
        pixels = V.read_frames(video_path, wanted)

    bg_images = [pixels[f] for f in background_src]
    shapes = {im.shape for im in bg_images}
    background = None
    if len(shapes) == 1:  # else bootstrap_frames refuses the mixed sizes, naming a frame
        excl = [keypoint_exclusion(bg_images[0].shape, per_frame[f]) for f in background_src]
        background = background_model(bg_images, exclude=excl)
    log.info(
        "%s: background from %d labelled frames; masks for %d frames (%s)",
        video,
        len(background_src),
        len(chosen),
        mode,
    )
    frames = {name_of(f): pixels[f] for f in chosen}
    kps = {name_of(f): per_frame[f] for f in chosen}
    return bootstrap_frames(
        frames,
        kps,
        out_dir,
        background=background,
        edges_idx=edges_idx,
        progress=progress,
        overlays=n_overlays,
        **mask_kw,
    )
