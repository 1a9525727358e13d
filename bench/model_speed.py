"""Model speed: frames/s of Mask R-CNN and YOLACT at the same input size, in one run, and ratios.

Three comparisons, each model forwarded on the same frames (decoded once, in memory), same batch
size, same threads, after one warm-up batch; a forward includes post-processing (NMS, mask
assembly and paste at frame size), which is what an inference job pays per frame:

1. ``reference``: the families' reference architectures at equal input size: torchvision's
   Mask R-CNN R50-FPN v2 (1000 RPN proposals, 4conv1fc box head) vs YOLACT R50 (upstream
   yolact_resnet50 layout) and the YOLACT-Edge preset (R18, thin FPN), untrained. Both families
   are made to return the same number of detections (score thresholds 0, 20 detections) so
   post-processing costs the same work.
2. ``demo``: the configurations of config/config.yaml (trained models from results/models/ when
   they exist, else untrained).
3. ``feature re-use``: YOLACT with key-frame feature re-use (interval 1, 2, 4) on consecutive
   frames; with a trained YOLACT and the demo's ground truth it also reports the tracking
   accuracy (MOTA, IDF1) for each interval, so the trade-off is measured, not assumed.

    .venv/bin/python bench/model_speed.py [--sizes 256,550] [--size 256] [--frames 16]
        [--long-frames 96] [--batch 4] [--threads 2] [--only reference,demo,reuse] [--device cpu]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ethoflow.io import video as V  # noqa: E402
from ethoflow.models import build_model, load_model, resolve_device  # noqa: E402
from ethoflow.tracking.infer import predict  # noqa: E402


def frames_for(args, size: int, n: int | None = None) -> list[np.ndarray]:
    """Frames of the demo video (or a freshly rendered demo clip) resized to ``size``."""
    import cv2

    path = Path(args.video)
    if not path.exists():
        from ethoflow.demo import make_demo_video

        tmp = Path(tempfile.mkdtemp())
        path = tmp / "bench.mp4"
        make_demo_video(
            path,
            tmp / "t.parquet",
            tmp / "labels",
            name="bench",
            seed=13,
            n_frames=max(args.frames, args.long_frames),
            size=256,
            n_labelled=0,
        )
    frames = [f for _, f in V.iter_frames(path, 0, n or args.frames)]
    return [cv2.resize(f, (size, size), interpolation=cv2.INTER_AREA) for f in frames]


def fps(model, frames, batch: int, device, consecutive: bool = False, repeats: int = 1) -> float:
    model.eval()
    with torch.inference_mode():
        predict(model, frames[:batch], device, consecutive=consecutive)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            for i in range(0, len(frames), batch):
                predict(model, frames[i : i + batch], device, consecutive=consecutive)
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - t0)
    return len(frames) / best


def row(name: str, value: float, base: float | None = None, extra: str = "") -> None:
    ratio = f"{value / base:6.2f}x" if base else "       "
    print(f"  {name:<46} {value:8.2f} frames/s  {ratio}  {extra}")


def n_params(model) -> str:
    return f"{sum(p.numel() for p in model.parameters()) / 1e6:.1f} M params"


def reference(args, device) -> None:
    for s in [int(x) for x in args.sizes.split(",")]:
        frames = frames_for(args, s)
        n = len(frames)
        print(f"\n[reference] untrained, input {s}x{s}, {n} frames, batch {args.batch}")
        torch.manual_seed(0)
        mask_kw = dict(
            min_size=s,
            max_size=s,
            weights=None,
            box_score_thresh=0.0,
            box_detections_per_img=20,
            rpn_pre_nms_top_n_test=1000,
            rpn_post_nms_top_n_test=1000,
        )
        yolact_kw = dict(input_size=s, conf_threshold=0.0, max_detections=20, weights=None)
        candidates = [
            ("Mask R-CNN R50-FPN v2 (torchvision)", "maskrcnn", dict(backbone="resnet50_fpn_v2")),
            ("Mask R-CNN R50-FPN (torchvision v1)", "maskrcnn", dict(backbone="resnet50_fpn")),
            ("YOLACT R50 (upstream yolact_resnet50)", "yolact", dict(backbone="resnet50")),
            ("YOLACT-Edge preset (R18, FPN 128)", "yolact_edge", {}),
        ]
        measured = []
        for name, family, net in candidates:
            kw = mask_kw if family == "maskrcnn" else yolact_kw
            model = build_model(family, 3, {**net, **kw}).to(device)
            measured.append((name, fps(model, frames, args.batch, device), n_params(model)))
            del model
        v2, v1 = measured[0][1], measured[1][1]
        print(f"  {'':<46} {'frames/s':>8}  {'vs v2':>6}  {'vs v1':>6}")
        for name, f, params in measured:
            print(f"  {name:<46} {f:8.2f}  {f / v2:5.2f}x  {f / v1:5.2f}x  {params}")


def demo(args, device, cfg) -> None:
    s = args.size
    frames = frames_for(args, s, args.long_frames)
    print(f"\n[demo] config/config.yaml models, input {s}x{s}, {len(frames)} frames")
    results = {}
    for name in ("maskrcnn", "yolact"):
        ms = cfg["model_settings"][name]
        path = ROOT / "results" / "models" / name / "model.pt"
        if path.exists():
            model, meta = load_model(path, device)
            how = "trained"
        else:
            torch.manual_seed(0)
            model = build_model(ms["family"], len(cfg["identities"]), ms["network"]).to(device)
            how = "untrained"
        results[name] = fps(model, frames, args.batch, device, repeats=2)
        net = ms["network"]
        size = net.get("input_size") or net.get("min_size")
        row(
            f"{name} ({net['backbone']}, {how}, model input {size})",
            results[name],
            results.get("maskrcnn") if name != "maskrcnn" else None,
            n_params(model),
        )


def reuse(args, device, cfg) -> None:
    s = args.size
    frames = frames_for(args, s, args.long_frames)
    path = ROOT / "results" / "models" / "yolact" / "model.pt"
    trained = path.exists()
    print(f"\n[feature re-use] YOLACT, consecutive frames, batch {args.batch}, input {s}")
    if trained:
        model, meta = load_model(path, device)
    else:
        torch.manual_seed(0)
        ms = cfg["model_settings"]["yolact"]
        model = build_model("yolact", len(cfg["identities"]), ms["network"]).to(device)
    base = None
    for k in (1, 2, 4):
        if k > args.batch:
            continue
        model.keyframe_interval = k
        f = fps(model, frames, args.batch, device, consecutive=True, repeats=2)
        base = base or f
        extra = accuracy(model, meta, cfg, device, args) if trained and args.accuracy else ""
        row(f"key frame every {k} frame(s)", f, base, extra)
    model.keyframe_interval = 1
    # where the deep stages dominate: upstream yolact_base (R101, 23 blocks in C4) at 550 px
    big = max(int(x) for x in args.sizes.split(","))
    frames = frames_for(args, big)
    print(f"\n[feature re-use] YOLACT R101 (untrained), input {big}, {len(frames)} frames")
    torch.manual_seed(0)
    model = build_model(
        "yolact",
        3,
        dict(backbone="resnet101", input_size=big, conf_threshold=0.0, max_detections=20),
    ).to(device)
    base = None
    for k in (1, 2, 4):
        if k > args.batch:
            continue
        model.keyframe_interval = k
        f = fps(model, frames, args.batch, device, consecutive=True)
        base = base or f
        row(f"key frame every {k} frame(s)", f, base)


def accuracy(model, meta, cfg, device, args) -> str:
    """MOTA / IDF1 of the whole pipeline (infer, track, evaluate) on the demo's unseen video."""
    from ethoflow.evaluation.mot import evaluate_tracks
    from ethoflow.io import tracktable
    from ethoflow.io.detections import read_detections
    from ethoflow.tracking.identity import track
    from ethoflow.tracking.infer import infer_shard

    video = Path(args.video)
    truth = ROOT / "resources" / "demo" / "truth" / f"{video.stem}.parquet"
    if not (video.exists() and truth.exists()):
        return ""
    info = V.probe(video)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "d.parquet"
        infer_shard(
            model,
            meta["identities"],
            video,
            video.stem,
            0,
            info["n_frames"],
            out,
            batch_size=args.batch,
            device=device,
        )
        df = track(
            read_detections([out]),
            video=video.stem,
            model="yolact",
            identities=meta["identities"],
            n_frames=info["n_frames"],
            fps=info["fps"],
            params=cfg["tracking"],
        )
    m = evaluate_tracks(
        df,
        tracktable.read(truth),
        cfg["metrics"]["iou_threshold"],
    )
    return f"MOTA {m['mota']:.3f}  IDF1 {m['idf1']:.3f}  ({video.stem}, all frames)"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="256,550", help="input sizes of the reference comparison")
    ap.add_argument("--size", type=int, default=256, help="input size of the demo comparisons")
    ap.add_argument("--frames", type=int, default=16, help="frames of the reference comparison")
    ap.add_argument("--long-frames", type=int, default=96, help="frames of the demo comparisons")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--video", default=str(ROOT / "resources/demo/videos/demo_c.mp4"))
    ap.add_argument("--only", default="reference,demo,reuse")
    ap.add_argument("--no-accuracy", dest="accuracy", action="store_false")
    ap.add_argument("--config", default=str(ROOT / "config/config.yaml"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    cfg = yaml.safe_load(Path(args.config).read_text())
    print(f"torch {torch.__version__}, device {device}, {args.threads} threads")
    parts = args.only.split(",")
    if "reference" in parts:
        reference(args, device)
    if "demo" in parts:
        demo(args, device, cfg)
    if "reuse" in parts:
        reuse(args, device, cfg)


if __name__ == "__main__":
    main()
