"""A classical baseline tracker: background model, threshold, blobs, Hungarian linking.

It sits beside the learned models in the report, to show what they add over a tracker that needs
no labels and no training.

1. **Background** (:func:`estimate_background`): the per-pixel percentile
   (:func:`ethoflow.labels.foreground.background_model`) of ``background_frames`` grey frames
   sampled evenly across the video, by polarity (:data:`DEFAULT_PERCENTILE`): light animals on a
   dark floor take a low percentile (the floor is the darkest a pixel gets), dark animals a high
   one, ``polarity="auto"`` (animals of either polarity, as in the demo) the median. With a low
   (high) percentile an animal that rests in one place for most of the video, but not all of it,
   still drops out; a median keeps whatever sits still in more than half the samples. An animal that
   never leaves its place in the sampled frames stays in any percentile (the SLEAP fly clip: both
   flies sit still through its first 900 frames). Such *still animals* (:func:`still_animals`) are
   found in the background itself, as blobs that stand out from the floor by more than
   ``diff_threshold`` all the way round, and are inpainted from the floor around them
   (``fill_still``).
2. **Foreground** (:func:`ethoflow.labels.foreground.foreground`): pixels that differ from the
   background by more than ``diff_threshold`` in the animals' polarity ("auto": either way), an
   opening of ``open_px``, a closing of ``close_px``, holes filled. Blobs are its 8-connected
   components of at least ``min_area`` px.
3. **Identities**: in the first frame with blobs the largest blob is ``identities[0]``, the next
   ``identities[1]``, and so on (so list the identities largest animal first). After that the
   largest blobs of each frame, as many as there are identities (smaller ones are dropped), are
   linked to the identities by the Hungarian algorithm on the distance from each identity's last
   known centroid, gated at ``max_distance`` x the frames since it was last seen; an identity
   not seen yet takes a blob left over (largest first). A blob not linked inside the gate is
   dropped; an identity without a blob is absent from that frame.

Known weakness: there is no appearance model and no splitting of blobs. Where animals touch they
form one blob: one identity takes it (with the centroid of both animals) and the other is missing
until they part; when they part, identities follow the nearer last position, so animals that
cross while touching may swap. The gate of a missing identity grows with every frame, so it may
take a smaller blob (a speck of debris that appeared after the background frames were sampled)
until the animals part and the speck is no longer among the largest blobs. Faint parts count:
at ``diff_threshold`` 25 the wings and legs of two courting flies join them into one blob, and a
closing (``close_px``) joins animals a few px apart; on the SLEAP fly clip at a quarter of its
size a threshold of 60 (bodies only) and no closing keep the flies apart where 25 does not.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from scipy.optimize import linear_sum_assignment

from ethoflow.defaults import BASELINES
from ethoflow.io import EthoflowError
from ethoflow.io import masks as M
from ethoflow.io import video as V
from ethoflow.io.tracktable import COLUMNS, geometry
from ethoflow.labels.foreground import (
    POLARITIES,
    background_model,
    foreground,
    grey,
    large_components,
)

log = logging.getLogger(__name__)

#: The columns :func:`track_video` returns: the track table's, less those the caller adds.
OUTPUT_COLUMNS = [c for c in COLUMNS if c not in ("video", "model", "time_s")]
#: Background percentile per polarity when ``background_percentile`` is not given.
DEFAULT_PERCENTILE = {"light": 10.0, "dark": 90.0, "auto": 50.0}


def _floor(background: np.ndarray) -> np.ndarray:
    """The floor under ``background``: its median over a window of a quarter of its larger
    side (an animal covers far less than half of such a window)."""
    k = max(3, (max(background.shape[:2]) // 4) | 1)
    return cv2.medianBlur(background, k)


def still_animals(
    background: np.ndarray, polarity: str, *, diff_threshold: float = 25.0, min_area: int = 30
) -> np.ndarray:
    """Bool HxW mask of the animals that stayed in a grey ``background``.

    Candidates are components (at least ``min_area`` px) that stand out from the floor (the
    background's median over a window of a quarter of its larger side) by more than
    ``diff_threshold`` in ``polarity`` ("auto": either way), grown over their fainter rim (down
    to half the threshold). A candidate is taken when it stands out by more than
    ``diff_threshold`` from the ring of background around it all the way round (its median
    against the ring's 90th percentile, or 10th for dark ones), so the edge of a bright arena
    next to a dark wall (where the window's median is off) is not taken for an animal."""
    bg = background.astype(np.int16)
    diff = bg - _floor(background).astype(np.int16)
    sign = {"light": [1], "dark": [-1], "auto": [1, -1]}[polarity]
    out = np.zeros(background.shape, bool)
    ring_kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    for s in sign:
        core = large_components(s * diff > diff_threshold, min_area)
        if not core.any():
            continue
        weak = (s * diff > diff_threshold / 2) | core
        n, lab = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
        for label in np.unique(lab[core]):
            comp = lab == label
            ring = cv2.dilate(comp.astype(np.uint8), ring_kernel).astype(bool) & ~weak
            if not ring.any():
                continue
            inside = float(np.median(s * bg[comp]))
            around = float(np.percentile(s * bg[ring], 90))
            if inside - around > diff_threshold:
                out |= comp
    return cv2.dilate(out.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def estimate_background(
    frames: Sequence[np.ndarray],
    polarity: str,
    *,
    percentile: float | None = None,
    diff_threshold: float = 25.0,
    min_area: int = 30,
    fill_still: bool = True,
) -> np.ndarray:
    """Grey uint8 background of ``frames`` (RGB or grey) for animals of ``polarity`` ("light",
    "dark" or "auto"): the per-pixel ``percentile`` (default :data:`DEFAULT_PERCENTILE`), with
    animals that stayed in it (:func:`still_animals`) inpainted from the floor around them
    (``fill_still``)."""
    if percentile is None:
        percentile = DEFAULT_PERCENTILE[polarity]
    bg = background_model([grey(np.asarray(f)) for f in frames], percentile=percentile)
    if fill_still:
        still = still_animals(bg, polarity, diff_threshold=diff_threshold, min_area=min_area)
        if still.any():
            log.info("background: %d px of still animals painted over", int(still.sum()))
            bg = cv2.inpaint(bg, still.astype(np.uint8), 3, cv2.INPAINT_TELEA)
    return bg


def find_blobs(fg: np.ndarray, min_area: int) -> tuple[np.ndarray, list[int], np.ndarray]:
    """The 8-connected components of ``fg`` with at least ``min_area`` px: the label image, the
    labels largest first, and their centroids ``(n, 2)`` (x, y; pixel ``i`` spans
    ``[i, i + 1)``, as in the track table)."""
    n, lab, stats, cents = cv2.connectedComponentsWithStats(fg.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = [int(i) + 1 for i in np.argsort(-areas, kind="stable") if areas[i] >= min_area]
    return lab, order, cents[order].reshape(-1, 2) + 0.5


def link(
    centroids: np.ndarray,
    last_xy: np.ndarray,
    last_frame: np.ndarray,
    frame: int,
    max_distance: float,
) -> dict[int, int]:
    """``{identity index: blob index}`` for one frame's blobs (``centroids`` largest blob
    first). Identities with a last position (``last_xy`` rows not NaN, seen in ``last_frame``)
    are matched by the Hungarian algorithm on centroid distance, gated at ``max_distance`` x the
    frames since; identities not seen yet then take the blobs left over, largest first."""
    out: dict[int, int] = {}
    seen = np.flatnonzero(np.isfinite(last_xy[:, 0]))
    if len(seen) and len(centroids):
        d = np.linalg.norm(last_xy[seen, None, :] - centroids[None, :, :], axis=2)
        gate = max_distance * np.maximum(frame - last_frame[seen], 1)[:, None]
        ok = d <= gate
        big = 1.0 + float(d[ok].sum())  # any gated pair costs more than all others together
        rows, cols = linear_sum_assignment(np.where(ok, d, big))
        out = {int(seen[r]): int(c) for r, c in zip(rows, cols) if ok[r, c]}
    taken = set(out.values())
    free = [b for b in range(len(centroids)) if b not in taken]
    for i in np.flatnonzero(~np.isfinite(last_xy[:, 0])):
        if not free:
            break
        out[int(i)] = free.pop(0)
    return out


def _check(video, identities, background_frames: int) -> list[str]:
    if isinstance(identities, str):
        identities = [identities]
    identities = [str(i) for i in (identities or [])]
    if not identities:
        raise EthoflowError(f"{video}: classical tracker needs at least one identity")
    dupes = sorted({i for i in identities if identities.count(i) > 1})
    if dupes:
        raise EthoflowError(f"{video}: identities {dupes} are listed more than once")
    if int(background_frames) < 1:
        raise EthoflowError(f"{video}: background_frames must be >= 1, got {background_frames}")
    return identities


def track_video(
    video: str | os.PathLike,
    identities: Sequence[str],
    *,
    progress=None,
    diff_threshold: float = BASELINES["diff_threshold"],
    polarity: str = BASELINES["polarity"],
    min_area: int = BASELINES["min_area"],
    max_distance: float = BASELINES["max_distance"],
    background_frames: int = BASELINES["background_frames"],
    background_percentile: float | None = BASELINES["background_percentile"],
    fill_still: bool = BASELINES["fill_still"],
    open_px: int = BASELINES["open_px"],
    close_px: int = BASELINES["close_px"],
    n_frames: int | None = None,
) -> pd.DataFrame:
    """Track ``identities`` (largest animal first) through ``video`` with the classical baseline
    (see the module docstring). Returns one row per identity per frame where it was found, with
    the columns :data:`OUTPUT_COLUMNS` (the track table's less ``video, model, time_s``).

    ``progress``: a writable file for a progress bar, or None. ``background_percentile``:
    percentile of the background model (None: by polarity, :data:`DEFAULT_PERCENTILE`).
    ``fill_still``: paint animals that never move out of the background. ``open_px``,
    ``close_px``: the foreground's opening and closing radii (a closing joins animals that
    nearly touch). ``n_frames``: the video's frame count, if known (None: counted here).
    """
    from tqdm import tqdm

    path = Path(video)
    identities = _check(path, identities, background_frames)
    if polarity not in POLARITIES:
        raise EthoflowError(f"{path}: polarity {polarity!r} is not one of {POLARITIES}")
    if not max_distance > 0:
        raise EthoflowError(f"{path}: max_distance must be > 0, got {max_distance}")
    t0 = time.perf_counter()
    # the frame count decodes the whole video: the workflow passes its probe's
    n = int(V.probe(path)["n_frames"] if n_frames is None else n_frames)
    picks = np.unique(np.linspace(0, n - 1, min(int(background_frames), n)).round().astype(int))
    sampled = V.read_frames(path, picks.tolist())
    frames = [sampled[int(i)] for i in picks]
    bg = estimate_background(
        frames,
        polarity,
        percentile=background_percentile,
        diff_threshold=diff_threshold,
        min_area=min_area,
        fill_still=fill_still,
    )
    del sampled, frames

    k = len(identities)
    last_xy = np.full((k, 2), np.nan)
    last_frame = np.zeros(k, np.int64)
    rows: list[dict] = []
    it = V.iter_frames(path)
    if progress is not None:
        it = tqdm(it, total=n, desc="classical", file=progress, mininterval=1)
    n_done = 0
    for index, image in it:
        n_done += 1
        fg = foreground(
            grey(image),
            bg,
            diff_threshold=diff_threshold,
            polarity=polarity,
            min_area=0,  # find_blobs drops the small components, in the same labelling pass
            open_px=open_px,
            close_px=close_px,
        )
        lab, labels, cents = find_blobs(fg, min_area)
        # Only the k largest blobs can be animals: a speck (debris, a reflection) must never
        # hold an identity that has lost its animal once the animals are back in view.
        labels, cents = labels[:k], cents[:k]
        for i, b in sorted(link(cents, last_xy, last_frame, index, max_distance).items()):
            blob = lab == labels[b]
            rows.append(
                dict(
                    frame=int(index),
                    identity=identities[i],
                    score=1.0,
                    **geometry(blob),
                    mask=M.encode(blob),
                    source="detected",
                )
            )
            last_xy[i] = cents[b]
            last_frame[i] = index
    df = pd.DataFrame(rows, columns=OUTPUT_COLUMNS)
    floats = ("score", "x1", "y1", "x2", "y2", "cx", "cy")
    df = df.astype(
        {
            "frame": "int64",
            "identity": "object",
            "area": "int64",
            **dict.fromkeys(floats, "float64"),
        }
    )
    counts = df["identity"].value_counts()
    log.info(
        "%s: classical tracker (polarity %s, background percentile %s): %d frames, %d rows "
        "(%s) in %.1f s",
        path,
        polarity,
        DEFAULT_PERCENTILE[polarity] if background_percentile is None else background_percentile,
        n_done,
        len(df),
        ", ".join(f"{i} {int(counts.get(i, 0))}" for i in identities),
        time.perf_counter() - t0,
    )
    return df
