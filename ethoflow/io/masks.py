"""Binary masks <-> COCO run-length encoding, polygons, boxes and overlaps."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode(mask: np.ndarray) -> dict:
    """Binary HxW mask -> COCO RLE ``{"size": [h, w], "counts": str}``."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {
        "size": [int(rle["size"][0]), int(rle["size"][1])],
        "counts": rle["counts"].decode("ascii"),
    }


def _coco(rle: dict) -> dict:
    counts = rle["counts"]
    if isinstance(counts, str):
        counts = counts.encode("ascii")
    return {"size": [int(s) for s in rle["size"]], "counts": counts}


def _runs(counts: str | bytes) -> list[int]:
    """Run lengths of a compressed COCO RLE string (pycocotools' rleFrString)."""
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs: list[int] = []
    p, n = 0, len(counts)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def decode(rle: dict) -> np.ndarray:
    """COCO RLE -> boolean HxW mask."""
    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    runs = list(counts) if isinstance(counts, (list, np.ndarray)) else _runs(counts)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != h * w:
        raise ValueError(f"RLE covers {flat.size} pixels, size says {h}x{w}")
    return flat.reshape(w, h).T


def area(rle: dict) -> int:
    return int(mask_utils.area(_coco(rle)))


def to_bbox(rle: dict) -> tuple[float, float, float, float]:
    """Tight box (x1, y1, x2, y2) in pixel-edge coordinates; zeros for an empty mask."""
    x, y, w, h = mask_utils.toBbox(_coco(rle)).tolist()
    return (x, y, x + w, y + h)


def iou_matrix(a: list[dict], b: list[dict]) -> np.ndarray:
    """Pairwise mask IoU between two lists of RLEs, shape (len(a), len(b))."""
    if not a or not b:
        return np.zeros((len(a), len(b)), dtype=np.float64)
    out = mask_utils.iou([_coco(r) for r in a], [_coco(r) for r in b], [0] * len(b))
    return np.asarray(out, dtype=np.float64).reshape(len(a), len(b))


def merge(rles: list[dict]) -> dict:
    """Union of several masks."""
    m = mask_utils.merge([_coco(r) for r in rles], intersect=False)
    return {"size": [int(m["size"][0]), int(m["size"][1])], "counts": m["counts"].decode("ascii")}


def from_polygons(polygons: list[list[float]], height: int, width: int) -> dict:
    """Union of flat polygons ``[x0, y0, x1, y1, ...]`` -> RLE."""
    rles = mask_utils.frPyObjects([list(map(float, p)) for p in polygons], height, width)
    m = mask_utils.merge(rles)
    return {"size": [int(m["size"][0]), int(m["size"][1])], "counts": m["counts"].decode("ascii")}


def to_polygons(mask: np.ndarray, tolerance: float = 1.0) -> list[list[float]]:
    """Outer contours of a binary mask as flat polygons (each >= 3 points)."""
    import cv2

    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    polys = []
    for c in contours:
        if tolerance > 0:
            c = cv2.approxPolyDP(c, tolerance, True)
        pts = c.reshape(-1, 2).astype(float)
        if len(pts) >= 3:
            polys.append(pts.flatten().tolist())
    return polys


def shift(rle: dict, dx: float, dy: float) -> dict:
    """Translate a mask by (dx, dy) pixels (rounded), clipping at the image border."""
    m = decode(rle)
    h, w = m.shape
    dx, dy = int(round(dx)), int(round(dy))
    out = np.zeros_like(m)
    ys, xs = np.nonzero(m)
    ys, xs = ys + dy, xs + dx
    keep = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    out[ys[keep], xs[keep]] = True
    return encode(out)
