"""Sharded, streaming inference: frames -> per-shard Parquet of detections.

A shard is a frame range; ranges are cut at multiples of the batch size so every batch holds the
same frames whatever the shard count, which makes K shards concatenate to exactly what one shard
gives. Frames are decoded one batch at a time: memory stays flat in video length.

Masks are post-processed where they can be non-zero: the families return ``mask_regions``
(see :mod:`ethoflow.models`), thresholded on the device and encoded straight to the full-frame
RLE (:func:`ethoflow.io.masks.encode_region`); detections under ``min_score`` get no mask work.
Beside an accelerator, decoding, the forward pass and encoding overlap (:func:`infer_shard`).

Each shard's Parquet schema metadata carries, under ``STATS_KEY``, the measured throughput as
JSON ``{"frames", "seconds", "device"}`` (seconds: wall time of decoding, forward passes and
encoding the detections); :func:`read_infer_stats` sums it over shards without reading any rows.
Reading shards needs no torch: it lives in :mod:`ethoflow.io.detections` (re-exported here).
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from tqdm import tqdm

from ethoflow.defaults import INFER
from ethoflow.io import EthoflowError, atomic_path, read_rgb
from ethoflow.io import masks as M
from ethoflow.io import video as V
from ethoflow.io.detections import DETECTION_SCHEMA, read_detections, read_infer_stats
from ethoflow.io.tracktable import with_stats

log = logging.getLogger(__name__)

__all__ = [
    "DETECTION_SCHEMA",
    "coco_detections",
    "detections_from_output",
    "infer_shard",
    "predict",
    "read_detections",
    "read_infer_stats",
    "shard_range",
    "spare_cores",
]


def shard_range(n_frames: int, n_shards: int, shard: int, batch_size: int = 1) -> tuple[int, int]:
    """Frame range ``[start, stop)`` of one shard, cut at multiples of ``batch_size``."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} outside 0..{n_shards - 1}")
    n_batches = -(-n_frames // batch_size)

    def cut(k):
        return min(n_frames, (n_batches * k // n_shards) * batch_size)

    return cut(shard), cut(shard + 1)


def _encoded_masks(out: dict, keep: np.ndarray, mask_threshold: float) -> list[tuple[dict, int]]:
    """(RLE, area) of the kept detections' masks, from regions when the model gives them.

    Regions are thresholded where they lie (on the model's device) and travel to the CPU in one
    copy; each becomes the full-frame RLE without a frame-sized array. Full-frame ``masks`` (a
    model that returns torchvision's form) are thresholded for the kept detections only.
    """
    if len(keep) == 0:
        return []
    if "mask_regions" in out:
        height, width = out["image_size"]
        regions = [out["mask_regions"][k] for k in keep]
        crops = [torch.as_tensor(r) for _, _, r in regions]
        flat = (torch.cat([c.reshape(-1) for c in crops]) >= mask_threshold).cpu().numpy()
        encoded, at = [], 0
        for (x0, y0, _), c in zip(regions, crops):
            n = c.numel()
            region = flat[at : at + n].reshape(c.shape)
            encoded.append(M.encode_region(region, x0, y0, height, width))
            at += n
        return encoded
    masks = (out["masks"][torch.as_tensor(keep), 0] >= mask_threshold).cpu().numpy()
    return [(M.encode(m), int(m.sum())) for m in masks]


def detections_from_output(
    out: dict, identities: list[str], mask_threshold: float = 0.5, min_score: float = 0.0
):
    """One image's model output -> list of detection dicts (masks as RLE), score >= min_score.

    Detections under ``min_score`` are dropped before any mask work. Masks come either as
    ``mask_regions`` + ``image_size`` (this workflow's families) or as full-frame ``masks``.
    """
    scores = out["scores"].float().cpu().numpy()
    keep = np.flatnonzero(scores >= min_score)
    boxes = out["boxes"].float().cpu().numpy()
    labels = out["labels"].cpu().numpy()
    cls = out.get("class_scores")
    cls = cls.float().cpu().numpy() if cls is not None else None
    dets = []
    for k, (rle, area) in zip(keep, _encoded_masks(out, keep, mask_threshold)):
        if cls is None:
            cs = np.zeros(len(identities), dtype=np.float32)
            cs[labels[k] - 1] = scores[k]
        else:
            cs = cls[k]
        dets.append(
            dict(
                identity=identities[int(labels[k]) - 1],
                score=float(scores[k]),
                class_scores=[float(x) for x in cs],
                x1=float(boxes[k, 0]),
                y1=float(boxes[k, 1]),
                x2=float(boxes[k, 2]),
                y2=float(boxes[k, 3]),
                mask_area=area,
                mask=rle,
            )
        )
    return dets


def model_inputs(frames: list[np.ndarray], device, *, pinned: bool = False) -> list:
    """HxWx3 uint8 frames -> CHW float tensors in [0, 1] on ``device``.

    ``pinned`` (for CUDA): one stacked batch in pinned host memory, copied asynchronously, so
    the copy overlaps the host's next work; the same values and strides as frame by frame.
    """
    if pinned and len({f.shape for f in frames}) == 1:
        host = torch.from_numpy(np.stack(frames))
        host = host.pin_memory() if torch.device(device).type == "cuda" else host
        on = host.to(device, non_blocking=True).permute(0, 3, 1, 2).float().div_(255.0)
        return list(on.unbind(0))
    return [
        torch.from_numpy(f if f.flags.writeable else f.copy())
        .to(device)
        .permute(2, 0, 1)
        .float()
        .div_(255.0)
        for f in frames
    ]


@torch.inference_mode()
def predict(model, frames: list[np.ndarray], device, *, consecutive: bool = False) -> list[dict]:
    """Forward a batch of HxWx3 uint8 RGB frames.

    ``consecutive``: the frames of this batch follow each other in a video, so a model that
    declares ``supports_feature_reuse`` may reuse features between them (never across batches:
    shards cut at batch boundaries stay independent). Other models are called as ``model(batch)``.
    """
    device = torch.device(device)
    batch = model_inputs(frames, device, pinned=device.type == "cuda")
    if getattr(model, "supports_feature_reuse", False):
        return model(batch, consecutive=consecutive)
    return model(batch)


def spare_cores(device) -> bool:
    """Whether decoding and post-processing can run beside the forward pass without taking
    its cores: when the model runs on an accelerator. On the CPU the forward pass takes the
    cores the job was given (a Snakemake job its ``threads``), so the stages run in turn."""
    return torch.device(device).type != "cpu"


def _batches(items, size: int):
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def infer_shard(
    model,
    identities: list[str],
    video_path: str | os.PathLike,
    video: str,
    start: int,
    stop: int,
    out_path: str | os.PathLike,
    *,
    batch_size: int = INFER["batch_size"],
    device="cpu",
    min_score: float = INFER["min_score"],
    mask_threshold: float = INFER["mask_threshold"],
    progress=None,
    overlap: bool | None = None,
) -> dict:
    """Run the model on frames ``[start, stop)`` and write their detections to ``out_path``.

    ``overlap``: decode and post-process in threads beside the forward pass. ``None`` decides
    by :func:`spare_cores`: yes beside a GPU; on the CPU the forward pass already takes the
    cores the job is given (on 2 cores, overlapping bought the demo models nothing measurable).
    """
    rows: list[dict] = []
    t0 = time.perf_counter()
    n = 0
    bar = tqdm(
        total=stop - start, desc=f"infer {video}[{start}:{stop}]", file=progress, mininterval=5
    )

    def post(idx, outs):
        for i, out in zip(idx, outs):
            dets = detections_from_output(out, identities, mask_threshold, min_score)
            for k, d in enumerate(dets):
                rows.append(dict(video=video, frame=i, det=k, **d))

    if overlap is None:
        overlap = spare_cores(device)
    # overlapped: three stages at once, decoding (a background thread, a few batches ahead),
    # the forward pass (this thread) and the detections of the previous batch (one worker, in
    # order); otherwise one after the other in this thread
    pending: deque = deque()
    frames = V.iter_frames(video_path, start, stop)
    if overlap:
        frames = V.background(frames, maxsize=2 * batch_size)
    # closing: the decoder (and its thread) stops at once when the forward pass fails
    with (
        ThreadPoolExecutor(max_workers=1, thread_name_prefix="ethoflow-post") as pool,
        closing(frames),
    ):
        for batch in _batches(frames, batch_size):
            idx = [i for i, _ in batch]
            outs = predict(model, [f for _, f in batch], device, consecutive=True)
            if overlap:
                pending.append(pool.submit(post, idx, outs))
                while len(pending) > 1:
                    pending.popleft().result()
            else:
                post(idx, outs)
            bar.update(len(batch))
            n += len(batch)
        while pending:
            pending.popleft().result()
    bar.close()
    if n != stop - start:
        raise EthoflowError(
            f"{video_path}: expected frames {start}..{stop - 1}, decoded {n}: video truncated?"
        )
    df = pd.DataFrame(rows, columns=DETECTION_SCHEMA.names)
    seconds = time.perf_counter() - t0
    stats = {"frames": n, "seconds": seconds, "device": str(device)}
    table = with_stats(
        pa.Table.from_pandas(df, schema=DETECTION_SCHEMA, preserve_index=False), stats
    )
    with atomic_path(out_path) as tmp:
        pq.write_table(table, tmp)
    log.info(
        "%s frames %d..%d: %d detections, %.1f frames/s",
        video,
        start,
        stop - 1,
        len(df),
        n / max(seconds, 1e-9),
    )
    return {"frames": n, "detections": len(df), "seconds": seconds}


def coco_detections(
    model, coco: dict, images_dir, device="cpu", batch_size: int = 4, mask_threshold: float = 0.5
) -> list[dict]:
    """Run the model on every image of a COCO dataset; results in COCO detection format."""
    names = [c["name"] for c in sorted(coco["categories"], key=lambda c: c["id"])]
    cat_id = {c["name"]: c["id"] for c in coco["categories"]}
    results = []
    images = coco["images"]
    for b in range(0, len(images), batch_size):
        batch = images[b : b + batch_size]
        frames = []
        for img in batch:
            path = os.path.join(images_dir, img["file_name"])
            frames.append(read_rgb(path, "evaluation image"))
        for img, out in zip(batch, predict(model, frames, device)):
            for d in detections_from_output(out, names, mask_threshold):
                results.append(
                    dict(
                        image_id=img["id"],
                        category_id=cat_id[d["identity"]],
                        score=d["score"],
                        bbox=[d["x1"], d["y1"], d["x2"] - d["x1"], d["y2"] - d["y1"]],
                        segmentation=d["mask"],
                    )
                )
    return results
