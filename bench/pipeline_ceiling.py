"""The inference pipeline's ceiling: what a shard job costs around the model, in one run.

A replay model returns fixed outputs (no forward pass) in the form the families return: per
detection an elliptical animal's mask probabilities, the box that encloses the mask, a score
and class scores. Through the shard job (:func:`ethoflow.tracking.infer.infer_shard`: decode,
detections to RLE, Parquet) it measures, at 256 and 1024 px, with 3, 6 and 20 detections per
frame:

- decode only (PyAV, ``iter_frames``): the ceiling;
- before: full-frame masks ``[N, 1, H, W]`` (torchvision's form, what the families returned
  before) through the shard job, its stages in turn (as it ran before);
- after: the families' region form (Mask R-CNN's pasting box, enlarged by 30/28 as torchvision
  does), through the shard job as it runs now: as a CPU job runs it (in turn, the frames
  converted to float on the host), and as a GPU job runs it (decode in a background thread,
  post-processing of one batch while the next is forwarded; the replay model sits on torch's
  ``meta`` device, so the frames' trip to it and their conversion cost the host nothing, as
  with an asynchronous copy to a GPU);

and the tracking job's frames/s on the 6-detection table. Ratios are to the decode rate of the
same run.

    .venv/bin/python bench/pipeline_ceiling.py [--video ../shared/data/sleap-fly-clip/clip.mp4]
        [--frames 300] [--sizes 256 1024] [--dets 3 6 20] [--batch 4] [--threads 2] [--repeat 3]

The video is shrunk to each size first (a temporary copy, outside the timing). Without the
video, a synthetic one is rendered.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoflow.io import video as V  # noqa: E402
from ethoflow.tracking.identity import track  # noqa: E402
from ethoflow.tracking.infer import infer_shard, read_detections  # noqa: E402

IDS = ["a", "b", "c", "d", "e", "f"]
FLY = Path(__file__).resolve().parents[2] / "shared" / "data" / "sleap-fly-clip" / "clip.mp4"


def ellipse_probs(h: int, w: int, cx: float, cy: float, a: float, b: float, theta: float):
    """Soft elliptical mask: P = sigmoid of the scaled distance inside the ellipse edge."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    c, s = np.cos(theta), np.sin(theta)
    u = ((xx - cx) * c + (yy - cy) * s) / a
    v = (-(xx - cx) * s + (yy - cy) * c) / b
    return 1.0 / (1.0 + np.exp(8.0 * (np.sqrt(u * u + v * v) - 1.0)))


def replay_outputs(size: int, n: int, seed: int = 0) -> tuple[dict, dict]:
    """(full-frame form, region form) of the same ``n`` detections in a ``size`` px frame."""
    rng = np.random.default_rng(seed)
    full, regions, boxes = [], [], []
    length = 0.09 * size
    for _ in range(n):
        cx, cy = rng.uniform(0.1 * size, 0.9 * size, 2)
        p = ellipse_probs(size, size, cx, cy, length / 2, length / 5, rng.uniform(0, np.pi))
        ys, xs = np.nonzero(p >= 0.5)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float32)
        # torchvision pastes a 28 x 28 mask into its box enlarged by 30/28: that region
        half = (box[2:] - box[:2]) * 0.5 * 30 / 28
        mid = (box[2:] + box[:2]) * 0.5
        x0, y0 = np.maximum(np.floor(mid - half).astype(int), 0)
        x1, y1 = np.minimum(np.floor(mid + half).astype(int) + 1, size)
        p[:y0], p[y1:], p[:, :x0], p[:, x1:] = 0, 0, 0, 0
        full.append(p)
        regions.append((int(x0), int(y0), torch.from_numpy(p[y0:y1, x0:x1].copy())))
        boxes.append(box)
    cls = rng.dirichlet(np.ones(len(IDS)), n).astype(np.float32)
    common = dict(
        boxes=torch.from_numpy(np.array(boxes)),
        scores=torch.from_numpy(rng.uniform(0.5, 1.0, n).astype(np.float32)),
        labels=torch.from_numpy(cls.argmax(1) + 1),
        class_scores=torch.from_numpy(cls),
    )
    return (
        dict(common, masks=torch.from_numpy(np.array(full))[:, None]),
        dict(common, mask_regions=regions, image_size=(size, size)),
    )


class Replay(torch.nn.Module):
    """A model that returns the same outputs for every image, without looking at it."""

    def __init__(self, out: dict):
        super().__init__()
        self.out = out

    def forward(self, images):
        return [self.out for _ in images]


def synthetic_video(path: Path, size: int, n: int) -> None:
    rng = np.random.default_rng(1)
    base = rng.integers(90, 110, (size, size, 3), dtype=np.uint8)
    with V.VideoWriter(path, 30, size, size) as out:
        for i in range(n):
            f = base.copy()
            for k in range(6):
                cx = int(size * (0.2 + 0.6 * ((k * 0.37 + i * 0.003) % 1)))
                cy = int(size * (0.2 + 0.1 * k))
                r = max(2, size // 40)
                f[cy - r : cy + r, cx - 2 * r : cx + 2 * r] = 30
            out.write(f)


def rate(n: int, seconds: float) -> float:
    return n / max(seconds, 1e-9)


def median_rate(n: int, repeat: int, run, *args, **kwargs) -> float:
    """Frames/s of ``run(*args, **kwargs)`` over ``n`` frames, median of ``repeat`` runs."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run(*args, **kwargs)
        times.append(time.perf_counter() - t0)
    return rate(n, statistics.median(times))


def decode_only(video: Path, n: int) -> None:
    for _ in V.iter_frames(video, 0, n):
        pass


def before(video: Path, n: int, out: dict, dest: Path, batch: int) -> None:
    """Full-frame masks through the shard job, stages in turn (what the shard job did)."""
    infer_shard(Replay(out), IDS, video, "b", 0, n, dest, batch_size=batch, overlap=False)


def after(video: Path, n: int, out: dict, dest: Path, batch: int, device: str) -> None:
    """The shard job as it runs now. On ``cpu``: in turn (the frames are converted to float
    for the model on the host, as a CPU job does). On ``meta``: overlapped, the model's input
    converted on the device (as on a GPU); the host's stacking into pinned memory for a CUDA
    copy is not made, so this is the ceiling less that copy (about a frame's size of memcpy)."""
    model = Replay(out)
    overlap = device != "cpu"
    infer_shard(
        model, IDS, video, "b", 0, n, dest, batch_size=batch, device=device, overlap=overlap
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--video", default=str(FLY))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--dets", type=int, nargs="+", default=[3, 6, 20])
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3, help="median of this many runs each")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"{os.cpu_count()} CPUs, torch threads {args.threads}, batch {args.batch}, "
        f"median of {args.repeat} runs"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        src = Path(args.video)
        if src.exists():
            print(f"video: {src} ({V.probe(src, count=False)['width']} px), {args.frames} frames")
        else:
            print(f"video: {src} not found; a synthetic 1024 px video, {args.frames} frames")
            src = tmp / "synthetic.mp4"
            synthetic_video(src, 1024, args.frames)
        for size in args.sizes:
            video = tmp / f"v{size}.mp4"
            width = V.probe(src, count=False)["width"]
            V.prepare(src, video, downscale=width / size, stop=args.frames)
            n = V.probe(video)["n_frames"]
            r = args.repeat
            dec = median_rate(n, r, decode_only, video, n)
            rows.append((size, "decode only", "-", dec))
            for k in args.dets:
                full, regions = replay_outputs(size, k)
                dest = tmp / f"d{size}-{k}.parquet"
                fps = median_rate(n, r, before, video, n, full, dest, args.batch)
                rows.append((size, "before: full-frame masks", k, fps))
                for device, name in (("cpu", "in turn, CPU job"), ("meta", "overlapped, GPU job")):
                    fps = median_rate(n, r, after, video, n, regions, dest, args.batch, device)
                    rows.append((size, f"after: {name}", k, fps))
                if k == 6 and size == max(args.sizes):
                    dets = read_detections([dest])
                    kw = dict(video="b", model="b", identities=IDS, n_frames=n, fps=30.0)
                    fps = median_rate(n, r, track, dets, **kw)
                    rows.append((size, "tracking job (6 per frame)", k, fps))
            print(f"\n{size} px ({n} frames)")
            print(f"{'path':30s} {'dets':>5s} {'frames/s':>10s} {'x decode':>9s}")
            for s, name, k, fps in rows:
                if s == size:
                    print(f"{name:30s} {k!s:>5s} {fps:10.1f} {fps / dec:9.3f}")


if __name__ == "__main__":
    main()
