"""Pick frames for labelling, uniformly or by k-means on downsampled frames (as DeepLabCut does)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ethoflow.defaults import FRAMES
from ethoflow.io import atomic_dir, write_json
from ethoflow.io import video as V
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name

log = logging.getLogger(__name__)


def _thumb(frame: np.ndarray, size: int) -> np.ndarray:
    img = Image.fromarray(frame).convert("L").resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.float32).ravel() / 255.0


def select_frames(
    path: str | os.PathLike,
    n: int,
    method: str = FRAMES["method"],
    seed: int = FRAMES["seed"],
    n_frames: int | None = None,
    thumb_size: int = 32,
    progress=None,
) -> list[int]:
    """Indices of ``n`` frames to label, sorted; deterministic for a given video, method and seed.

    ``kmeans`` clusters downsampled grey frames into ``n`` clusters and takes, from each cluster,
    the frame nearest its centre, so labels cover the video's distinct appearances (poses,
    crossings) rather than long stretches of similar frames.
    """
    if n <= 0:
        return []
    if method == "uniform":
        if n_frames is None:
            n_frames = V.probe(path)["n_frames"]
        n = min(n, n_frames)
        return sorted({int(round(x)) for x in np.linspace(0, n_frames - 1, n)})
    if method != "kmeans":
        raise ValueError(f"unknown frame selection method {method!r} (uniform, kmeans)")
    from sklearn.cluster import KMeans

    it = V.iter_frames(path)
    if progress is not None:
        it = tqdm(it, total=n_frames, desc="thumbnails", file=progress, mininterval=1)
    thumbs = np.stack([_thumb(f, thumb_size) for _, f in it])
    n = min(n, len(thumbs))
    km = KMeans(n_clusters=n, n_init=4, random_state=seed).fit(thumbs)
    picked = []
    for k in range(n):
        members = np.flatnonzero(km.labels_ == k)
        d = ((thumbs[members] - km.cluster_centers_[k]) ** 2).sum(1)
        picked.append(int(members[np.argmin(d)]))
    return sorted(set(picked))


def extract_frames(
    path: str | os.PathLike,
    out_dir: str | os.PathLike,
    video: str,
    n: int,
    method: str = FRAMES["method"],
    seed: int = FRAMES["seed"],
    progress=None,
) -> list[int]:
    """Write the selected frames as PNG (``{video}_{index:06d}.png``) plus ``frames.json``."""
    indices = select_frames(path, n, method, seed, progress=progress)
    frames = V.read_frames(path, indices)
    with atomic_dir(out_dir) as tmp:
        for i in indices:
            write_png(frames[i], Path(tmp) / f"{frame_name(video, i)}.png")
        write_json(
            {"video": video, "method": method, "seed": seed, "frames": indices},
            Path(tmp) / "frames.json",
        )
    log.info("%s: %d frames for labelling (%s) -> %s", path, len(indices), method, out_dir)
    return indices
