"""Inference throughput: end-to-end frames/s versus bare model-forward frames/s, in one run.

End to end = streaming decode + model forward + detections to RLE + tracking + Parquet write
(what a shard job and the tracking job do). Bare = the model's forward on frames already in
memory, same batch size. Their ratio says how much the pipeline around the model costs.

    .venv/bin/python bench/infer_throughput.py [--model results/models/maskrcnn/model.pt]
        [--video resources/demo/videos/demo_c.mp4] [--frames 120] [--batch 4] [--threads 2]

Without a trained model it builds an untrained one from config/config.yaml (same architecture,
same cost per frame up to the number of detections).

It also runs the shard job twice more with the model switched to full-frame masks
(``full_masks``: the form the families returned before, torchvision's ``[N, 1, H, W]``) and
back to mask regions (what they return now), and prints both rates and the detections per
frame. At native 1024 px (``--video ../shared/data/sleap-fly-clip/clip.mp4``) the model still
runs at its input size; the masks are pasted and encoded at 1024 px.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoflow.io import tracktable  # noqa: E402
from ethoflow.io import video as V  # noqa: E402
from ethoflow.models import build_model, load_model  # noqa: E402
from ethoflow.tracking.identity import track  # noqa: E402
from ethoflow.tracking.infer import infer_shard, predict, read_detections  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--model", default="results/models/maskrcnn/model.pt")
    ap.add_argument("--video", default="resources/demo/videos/demo_c.mp4")
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--config", default="config/config.yaml")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = yaml.safe_load(Path(args.config).read_text())
    if Path(args.model).exists():
        model, meta = load_model(args.model)
        identities = meta["identities"]
        print(f"model: {args.model}")
    else:
        identities = cfg["identities"]
        net = cfg["model_settings"]["maskrcnn"]["network"]
        torch.manual_seed(0)
        model = build_model("maskrcnn", len(identities), dict(net, weights=None)).eval()
        print(f"model: untrained {net['backbone']} ({args.model} not found)")
    if not Path(args.video).exists():
        sys.exit(f"{args.video}: not found (run the demo first: snakemake --cores 2)")
    info = V.probe(args.video)
    n = min(args.frames, info["n_frames"])
    print(
        f"video: {args.video} ({info['width']}x{info['height']}), {n} frames, "
        f"batch {args.batch}, {args.threads} threads"
    )

    frames = [f for _, f in V.iter_frames(args.video, 0, n)]
    predict(model, frames[: args.batch], "cpu")  # warm-up
    t0 = time.perf_counter()
    for b in range(0, n, args.batch):
        predict(model, frames[b : b + args.batch], "cpu")
    bare = n / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        det_path = Path(tmp) / "shard-0.parquet"
        infer_shard(
            model,
            identities,
            args.video,
            "bench",
            0,
            n,
            det_path,
            batch_size=args.batch,
            min_score=0.05,
        )
        tracks = track(
            read_detections([det_path]),
            video="bench",
            model="bench",
            identities=identities,
            n_frames=n,
            fps=info["fps"],
            params=cfg.get("tracking"),
        )
        tracktable.write(tracks, Path(tmp) / "tracks.parquet")
        e2e = n / (time.perf_counter() - t0)

    print(f"bare model forward : {bare:8.2f} frames/s")
    print(f"end to end         : {e2e:8.2f} frames/s")
    print(f"ratio end-to-end / bare: {e2e / bare:.3f}")

    switch = getattr(model, "transform", model)
    rates = {}
    for full in (True, False):
        switch.full_masks = full
        with tempfile.TemporaryDirectory() as tmp:
            dest = Path(tmp) / "shard.parquet"
            t0 = time.perf_counter()
            infer_shard(model, identities, args.video, "bench", 0, n, dest, batch_size=args.batch)
            rates[full] = (n / (time.perf_counter() - t0), len(read_detections([dest])) / n)
    switch.full_masks = False
    (fb, db), (fa, da) = rates[True], rates[False]
    print(f"shard job, full-frame masks (before): {fb:8.2f} frames/s ({db:.1f} detections/frame)")
    print(f"shard job, mask regions (now)       : {fa:8.2f} frames/s ({da:.1f} detections/frame)")
    print(f"ratio now / before: {fa / fb:.2f}")


if __name__ == "__main__":
    main()
