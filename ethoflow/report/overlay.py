"""Overlay videos: a track table drawn onto its video.

:func:`render_overlay` draws translucent mask fills, outlines and identity labels; interpolated
rows get a dashed outline and an "(interp)" tag. It streams frame by frame (decode, draw,
encode), so a long video never sits in memory.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.defaults import REPORT
from ethoflow.io import EthoflowError, tracktable
from ethoflow.io import masks as M
from ethoflow.io.draw import identity_colors_255
from ethoflow.io.video import VideoWriter, iter_frames, probe

log = logging.getLogger(__name__)


def ordered_identities(identities: Sequence[str], *tables: pd.DataFrame | None) -> list[str]:
    """``identities`` followed by any identity found in the tables but not listed.

    Colours go by the index in this list, so the configured identities keep theirs in every
    overlay and figure, whatever else a tracker calls its animals.
    """
    out = [str(i) for i in identities]
    for t in tables:
        if t is None or not len(t):
            continue
        for i in sorted(set(t["identity"].astype(str)) - set(out)):
            out.append(i)
    return out


def _dashed_contour(img: np.ndarray, contour: np.ndarray, color, thickness: int, dash: int):
    import cv2

    pts = contour.reshape(-1, 2)
    for s in range(0, len(pts), 2 * dash):
        seg = pts[s : s + dash + 1]
        if len(seg) >= 2:
            cv2.polylines(img, [seg.reshape(-1, 1, 2)], False, color, thickness, cv2.LINE_AA)


def _label(img: np.ndarray, text: str, cx: float, cy: float, color, scale: float, thick: int):
    """``text`` centred on (cx, cy), kept inside the image, with a black halo."""
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = img.shape[:2]
    x = int(round(cx - tw / 2))
    y = int(round(cy + th / 2))
    x = min(max(x, 0), max(w - tw, 0))
    y = min(max(y, th), max(h - base, th))
    cv2.putText(img, text, (x, y), font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), font, scale, color, thick, cv2.LINE_AA)


def _draw_row(out: np.ndarray, r, colors: dict, alpha: float, thick: int):
    """Fill and outline one track row's mask; returns its label (text, cx, cy, colour) or None."""
    import cv2

    h, w = out.shape[:2]
    m = M.decode(r.mask)
    if m.shape != (h, w):
        m = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
    if not m.any():
        return None
    color = colors.get(str(r.identity), (200, 200, 200))
    c = np.asarray(color, dtype=np.float32)
    region = out[m].astype(np.float32)
    out[m] = np.clip(region * (1 - alpha) + c * alpha, 0, 255).astype(np.uint8)
    contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    interp = r.source == "interpolated"
    for cnt in contours:
        if interp:
            _dashed_contour(out, cnt, color, max(1, thick), dash=max(2, min(h, w) // 64))
        else:
            cv2.drawContours(out, [cnt], -1, color, thick + 1, cv2.LINE_AA)
    cx, cy = r.cx, r.cy
    if cx is None or cy is None or not (math.isfinite(cx) and math.isfinite(cy)):
        ys, xs = np.nonzero(m)
        cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
    text = f"{r.identity} (interp)" if interp else str(r.identity)
    return text, cx, cy, color


def draw_tracks(
    frame: np.ndarray,
    rows: pd.DataFrame | None,
    colors: dict[str, tuple[int, int, int]],
    alpha: float = 0.45,
    frame_index: int | None = None,
) -> np.ndarray:
    """Draw one frame's track rows (fill, outline, identity label) onto a copy of ``frame``.

    ``colors`` maps identity -> (r, g, b) in 0..255 (unknown identities are grey); with a
    ``frame_index`` the frame number is written in the top-left corner.
    """
    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    scale = max(0.3, min(h, w) / 640.0)
    thick = max(1, int(round(min(h, w) / 320.0)))
    labels = []
    if rows is not None:
        for r in rows.itertuples(index=False):
            label = _draw_row(out, r, colors, alpha, thick)
            if label is not None:
                labels.append(label)
    # Labels last, so that no fill covers them.
    for text, cx, cy, color in labels:
        _label(out, text, cx, cy, color, scale, thick)
    if frame_index is not None:
        _label(out, f"frame {frame_index}", 0, 0, (255, 255, 255), scale * 0.8, thick)
    return out


def _progress(frames, info: dict, stop: int | None, video_path, stream):
    from tqdm import tqdm

    total = info["n_frames"] or None
    if total and stop is not None:
        total = min(total, stop)
    return tqdm(
        frames, total=total, desc=f"overlay {Path(video_path).name}", file=stream, mininterval=5
    )


def render_overlay(
    video_path: str | os.PathLike,
    tracks_df: pd.DataFrame | str | os.PathLike,
    out_path: str | os.PathLike,
    identities: Sequence[str],
    max_frames: int = REPORT["overlay_max_frames"],
    progress=None,
) -> dict:
    """Write an mp4 of the first ``max_frames`` frames of a video with its tracks drawn on.

    Each tracked mask is filled with its identity's colour (fixed by the index in
    ``identities``), outlined, and labelled with the identity name near its centroid;
    interpolated rows get a thin dashed outline and an "(interp)" tag. Frames are decoded,
    drawn and encoded one at a time; the output appears atomically. ``tracks_df`` may also be a
    path to a track table; ``max_frames`` <= 0 draws every frame; ``progress`` is a stream for a
    progress bar (the step's log). Returns ``{"frames", "width", "height", "fps"}`` of the
    result.
    """
    if not isinstance(tracks_df, pd.DataFrame):
        tracks_df = tracktable.read(tracks_df)
    info = probe(video_path, count=False)
    width, height, fps = info["width"], info["height"], info["fps"]
    # yuv420p needs even dimensions: pad odd ones by one black pixel.
    out_w, out_h = width + width % 2, height + height % 2
    max_frames = int(max_frames)
    stop = max_frames if max_frames > 0 else None
    df = tracks_df if stop is None else tracks_df[tracks_df["frame"] < stop]
    by_frame = {int(f): g for f, g in df.groupby("frame", sort=False)}
    colors = identity_colors_255(ordered_identities(identities, tracks_df))
    frames = iter_frames(video_path, 0, stop)
    if progress is not None:
        frames = _progress(frames, info, stop, video_path, progress)
    n = 0
    with VideoWriter(out_path, fps, out_w, out_h) as writer:
        for i, frame in frames:
            img = draw_tracks(frame, by_frame.get(i), colors, frame_index=i)
            if (out_w, out_h) != (width, height):
                padded = np.zeros((out_h, out_w, 3), dtype=np.uint8)
                padded[:height, :width] = img
                img = padded
            writer.write(img)
            n += 1
    if n == 0:
        raise EthoflowError(f"{video_path}: no frames to draw")
    log.info("overlay %s: %d frames, %dx%d", out_path, n, out_w, out_h)
    return {"frames": n, "width": out_w, "height": out_h, "fps": fps}
