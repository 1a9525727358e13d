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


def _from_runs(starts: np.ndarray, stops: np.ndarray, height: int, width: int) -> dict:
    """Full-frame runs of ones ``[start, stop)`` (column-major offsets, sorted) -> COCO RLE."""
    total = height * width
    if len(starts) == 0:
        counts = [total]
    else:
        # a run that ends on the last row continues in the next column's first row
        apart = starts[1:] != stops[:-1]
        if not apart.all():
            starts = np.concatenate((starts[:1], starts[1:][apart]))
            stops = np.concatenate((stops[:-1][apart], stops[-1:]))
        runs = np.empty(2 * len(starts) + 1, dtype=np.int64)
        runs[0] = starts[0]
        runs[1::2] = stops - starts
        runs[2:-1:2] = starts[1:] - stops[:-1]
        runs[-1] = total - stops[-1]
        counts = runs[:-1].tolist() if runs[-1] == 0 else runs.tolist()
    rle = mask_utils.frPyObjects({"size": [height, width], "counts": counts}, height, width)
    return {"size": [height, width], "counts": rle["counts"].decode("ascii")}


def encode_region(
    region: np.ndarray, x0: int, y0: int, height: int, width: int
) -> tuple[dict, int]:
    """A mask that can be non-zero only inside one rectangle -> (full-frame COCO RLE, area).

    ``region`` is the boolean ``[h, w]`` content of the rectangle whose top-left pixel is
    ``(x0, y0)`` in an image of ``height x width``; the rectangle must lie inside the image.
    The RLE is exactly :func:`encode` of the full-frame mask, but no ``height x width`` array is
    made: the runs are found inside the rectangle (column by column, as COCO's column-major order
    runs) and shifted to full-frame offsets; the area is the sum of the runs of ones.
    """
    region = np.asarray(region, dtype=bool)
    rh, rw = region.shape
    x0, y0, height, width = int(x0), int(y0), int(height), int(width)
    if x0 < 0 or y0 < 0 or x0 + rw > width or y0 + rh > height:
        raise ValueError(f"region {rw}x{rh} at ({x0}, {y0}) outside the {width}x{height} image")
    padded = np.zeros((rw, rh + 2), dtype=np.int8)
    padded[:, 1:-1] = region.T
    # zeros around every column: its changes alternate up (a run starts), down (it stops)
    col, row = np.divmod(np.flatnonzero(np.diff(padded.reshape(-1))) + 1, rh + 2)
    edges = (x0 + col) * height + y0 + row - 1
    starts, stops = edges[0::2], edges[1::2]
    return _from_runs(starts, stops, height, width), int((stops - starts).sum())


def _segments(rle: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mask's pixels as column segments ``(column, top, bottom)`` (rows ``[top, bottom)``),
    in COCO order, from the runs alone: a run that wraps over columns is cut per column."""
    runs, h, _ = _run_lengths(rle)
    ends = np.cumsum(runs)
    starts, stops = (ends - runs)[1::2], ends[1::2]
    keep = stops > starts
    starts, stops = starts[keep], stops[keep]
    if len(starts) == 0 or h == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    c0, c1 = starts // h, (stops - 1) // h
    n_cols = c1 - c0 + 1
    run = np.repeat(np.arange(len(starts)), n_cols)
    col = c0[run] + (np.arange(len(run)) - np.repeat(np.cumsum(n_cols) - n_cols, n_cols))
    top = np.maximum(starts[run], col * h) - col * h
    bottom = np.minimum(stops[run], (col + 1) * h) - col * h
    return col, top, bottom


def geometry(rle: dict) -> dict:
    """Box, centroid and area of an RLE mask from its runs, without decoding it.

    The same numbers as from the decoded mask's pixels (``ethoflow.io.tracktable.geometry``):
    box ``x1 y1 x2 y2`` in pixel edges, centroid ``cx cy`` at pixel centres, ``area`` in pixels.
    """
    col, top, bottom = _segments(rle)
    length = bottom - top
    area = int(length.sum())
    if area == 0:
        return dict(x1=np.nan, y1=np.nan, x2=np.nan, y2=np.nan, cx=np.nan, cy=np.nan, area=0)
    sum_x = int((length * col).sum())
    sum_y2 = int(((top + bottom - 1) * length).sum())  # twice the sum of the row indices
    return dict(
        x1=float(col.min()),
        y1=float(top.min()),
        x2=float(col.max() + 1),
        y2=float(bottom.max()),
        cx=float(sum_x / area + 0.5),
        cy=float(sum_y2 / 2 / area + 0.5),
        area=area,
    )


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


def _run_lengths(rle: dict) -> tuple[np.ndarray, int, int]:
    """(run lengths, height, width) of an RLE, checked to cover exactly its size."""
    h, w = (int(s) for s in rle["size"])
    counts = rle["counts"]
    runs = list(counts) if isinstance(counts, (list, np.ndarray)) else _runs(counts)
    runs = np.asarray(runs, dtype=np.int64)
    covered = int(runs.sum())
    if covered != h * w:
        raise ValueError(f"RLE covers {covered} pixels, size says {h}x{w}")
    return runs, h, w


def decode(rle: dict) -> np.ndarray:
    """COCO RLE -> boolean HxW mask."""
    runs, h, w = _run_lengths(rle)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    return np.repeat(values, runs).reshape(w, h).T


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
    """Translate a mask by (dx, dy) pixels (rounded), clipping at the image border.

    Done on the mask's column segments, so no image-sized array is made.
    """
    h, w = (int(v) for v in rle["size"])
    dx, dy = int(round(dx)), int(round(dy))
    col, top, bottom = _segments(rle)
    col, top, bottom = col + dx, np.clip(top + dy, 0, h), np.clip(bottom + dy, 0, h)
    keep = (col >= 0) & (col < w) & (bottom > top)
    col, top, bottom = col[keep], top[keep], bottom[keep]
    return _from_runs(col * h + top, col * h + bottom, h, w)
