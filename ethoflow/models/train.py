"""Training: COCO dataset -> model, with augmentation, checkpoints, resume and a loss log.

Training is a pure function of (dataset, settings, seed): the batch and augmentation of every
iteration are drawn from a generator seeded by the iteration number, so a run that is killed and
resumed from its last checkpoint continues exactly as if it had never stopped. A checkpoint
carries a fingerprint of the dataset and settings; it is only resumed when both are unchanged.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import os
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ethoflow.defaults import TRAIN
from ethoflow.io import EthoflowError, atomic_path, read_json, read_rgb
from ethoflow.io import masks as M
from ethoflow.models import build_model, resolve_device, save_model

log = logging.getLogger(__name__)

#: Loss log columns every model family has; the family's own loss terms go between them.
LOG_HEAD = ["iteration", "lr", "loss"]
LOG_TAIL = ["seconds"]


class CocoFrames:
    """COCO images + instance masks as torchvision detection targets."""

    def __init__(self, coco_json: str | os.PathLike, images_dir: str | os.PathLike):
        self.doc = read_json(coco_json)
        self.images_dir = Path(images_dir)
        self.cat_names = [c["name"] for c in sorted(self.doc["categories"], key=lambda c: c["id"])]
        by_img: dict[int, list] = {}
        for a in self.doc["annotations"]:
            by_img.setdefault(a["image_id"], []).append(a)
        self.items = [(img, by_img.get(img["id"], [])) for img in self.doc["images"]]
        if not self.items:
            raise EthoflowError(f"{coco_json}: no training images")

    def __len__(self) -> int:
        return len(self.items)

    def load(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        img, anns = self.items[i]
        path = self.images_dir / img["file_name"]
        image = read_rgb(path, "training image")
        h, w = image.shape[:2]
        masks = np.zeros((len(anns), h, w), dtype=bool)
        for k, a in enumerate(anns):
            masks[k] = M.decode(a["segmentation"])
        labels = np.array([a["category_id"] for a in anns], dtype=np.int64)
        return image, masks, labels


def augment(image, masks, rng: np.random.Generator, cfg: dict):
    """Flips, transpose and brightness/contrast jitter; identical for image and masks."""
    if cfg.get("hflip") and rng.random() < 0.5:
        image, masks = image[:, ::-1], masks[:, :, ::-1]
    if cfg.get("vflip") and rng.random() < 0.5:
        image, masks = image[::-1], masks[:, ::-1]
    if cfg.get("transpose") and rng.random() < 0.5 and image.shape[0] == image.shape[1]:
        image, masks = image.transpose(1, 0, 2), masks.transpose(0, 2, 1)
    img = image.astype(np.float32) / 255.0
    b, c = cfg.get("brightness", 0.0), cfg.get("contrast", 0.0)
    if b or c:
        gain = 1.0 + rng.uniform(-c, c)
        bias = rng.uniform(-b, b)
        mean = img.mean()
        img = np.clip((img - mean) * gain + mean + bias, 0.0, 1.0)
    return img, np.ascontiguousarray(masks)


def to_target(masks: np.ndarray, labels: np.ndarray) -> dict:
    boxes = []
    keep = []
    for k, m in enumerate(masks):
        ys, xs = np.nonzero(m)
        if len(xs) < 4:  # an instance flipped/cropped to nothing
            continue
        boxes.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
        keep.append(k)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "labels": torch.as_tensor(labels[keep], dtype=torch.int64),
        "masks": torch.as_tensor(masks[keep], dtype=torch.uint8),
    }


def lr_at(it: int, cfg: dict) -> float:
    """Linear warm-up, then cosine decay to 5% of the base rate."""
    base, warm, total = cfg["lr"], cfg["warmup"], cfg["iterations"]
    if it < warm:
        return base * (it + 1) / warm
    t = (it - warm) / max(1, total - warm)
    return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def fingerprint(train_json, settings: dict, train_cfg: dict) -> str:
    h = hashlib.sha256()
    h.update(Path(train_json).read_bytes())
    h.update(json.dumps([settings, train_cfg], sort_keys=True, default=str).encode())
    return h.hexdigest()[:16]


def _save_checkpoint(path: Path, model, optimizer, it: int, fp: str, log_rows: list) -> None:
    state = {
        "iteration": it,
        "fingerprint": fp,
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "log": log_rows,
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def loss_columns(rows: list[dict]) -> list[str]:
    """``iteration, lr, loss, <every loss term seen in the rows, sorted>, seconds``."""
    fixed = set(LOG_HEAD) | set(LOG_TAIL)
    terms = sorted({k for r in rows for k in r if k not in fixed})
    return [*LOG_HEAD, *terms, *LOG_TAIL]


def write_loss_log(rows: list[dict], path: str | os.PathLike) -> list[str]:
    """Write the per-iteration loss log as CSV (atomically); a term a row lacks stays empty.

    Returns the columns written.
    """
    columns = loss_columns(rows)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=columns)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in columns})
    return columns


def train(
    *,
    family: str,
    settings: dict,
    train_cfg: dict,
    train_json: str | os.PathLike,
    images_dir: str | os.PathLike,
    model_out: str | os.PathLike,
    log_csv: str | os.PathLike,
    checkpoint: str | os.PathLike,
    device: str = "cpu",
    threads: int | None = None,
    progress=None,
    hub: dict | None = None,
) -> dict:
    cfg = {**TRAIN, **(train_cfg or {})}
    cfg["augment"] = {**TRAIN["augment"], **(train_cfg or {}).get("augment", {})}
    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    data = CocoFrames(train_json, images_dir)
    identities = data.cat_names
    torch.manual_seed(cfg["seed"])
    model = build_model(family, len(identities), settings, hub).to(dev)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    fp = fingerprint(train_json, settings, cfg)
    ckpt = Path(checkpoint)
    start, rows = 0, []
    if ckpt.exists():
        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as e:
            log.warning("checkpoint %s unreadable (%s): training from the start", ckpt, e)
            state = None
        if state is not None and state.get("fingerprint") == fp:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            start, rows = int(state["iteration"]), list(state["log"])
            log.info("resuming from %s at iteration %d", ckpt, start)
        elif state is not None:
            log.info("checkpoint %s is for other labels or settings: training from the start", ckpt)
    total = int(cfg["iterations"])
    bs = int(cfg["batch_size"])
    t_start = time.perf_counter()
    bar = tqdm(
        range(start, total),
        initial=start,
        total=total,
        desc=f"train {family}",
        file=progress,
        mininterval=5,
    )
    for it in bar:
        t0 = time.perf_counter()
        rng = np.random.default_rng([cfg["seed"], it])
        # the RPN/RoI samplers draw from torch's generator: seed it per iteration too
        torch.manual_seed(int(rng.integers(2**31)))
        images, targets = [], []
        for i in rng.choice(len(data), size=bs, replace=len(data) < bs):
            image, masks, labels = data.load(int(i))
            image, masks = augment(image, masks, rng, cfg["augment"])
            images.append(torch.from_numpy(image).permute(2, 0, 1).contiguous().to(dev))
            targets.append({k: v.to(dev) for k, v in to_target(masks, labels).items()})
        lr = lr_at(it, cfg)
        for g in opt.param_groups:
            g["lr"] = lr
        losses = model(images, targets)
        loss = sum(losses.values())
        if not torch.isfinite(loss):
            raise EthoflowError(f"training diverged at iteration {it} (loss {loss.item()})")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg["grad_clip"])
        opt.step()
        row = {"iteration": it + 1, "lr": lr, "loss": loss.item()}
        row.update({k: v.item() for k, v in losses.items()})
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        bar.set_postfix(loss=f"{row['loss']:.3f}")
        if (it + 1) % int(cfg["checkpoint_every"]) == 0 and it + 1 < total:
            _save_checkpoint(ckpt, model, opt, it + 1, fp, rows)
    model.eval()
    train_seconds = sum(r["seconds"] for r in rows)
    extra = {
        "iterations": total,
        "fingerprint": fp,
        "train_seconds": train_seconds,
        "resumed_at": start,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "device": str(dev),
    }
    save_model(
        model.cpu(), model_out, family=family, settings=settings, identities=identities, extra=extra
    )
    write_loss_log(rows, log_csv)
    ckpt.unlink(missing_ok=True)
    log.info(
        "trained %s for %d iterations in %.0f s (%.2f s/iteration) wall %.0f s",
        family,
        total,
        train_seconds,
        train_seconds / max(1, len(rows)),
        time.perf_counter() - t_start,
    )
    return extra
