"""COCO detection and segmentation mean average precision (pycocotools), in memory."""

from __future__ import annotations

import contextlib
import io
import logging

import numpy as np

from ethoflow.io import masks as M

log = logging.getLogger(__name__)


def _gt_with_defaults(gt_coco: dict) -> dict:
    """Shallow copy of a COCO ground-truth dict with ``iscrowd`` and ``area`` filled in."""
    anns = []
    for ann in gt_coco.get("annotations", []):
        ann = dict(ann)
        ann.setdefault("iscrowd", 0)
        if "area" not in ann:
            seg = ann.get("segmentation")
            if isinstance(seg, dict):
                ann["area"] = M.area(seg)
            else:
                ann["area"] = float(ann["bbox"][2] * ann["bbox"][3])
        anns.append(ann)
    return {**gt_coco, "annotations": anns}


def coco_eval(gt_coco: dict, detections: list[dict], iou_type: str = "segm") -> dict:
    """COCO mean average precision of ``detections`` against ``gt_coco`` (both in memory).

    ``gt_coco`` is a COCO dataset dict (``images``, ``annotations``, ``categories``; mask
    segmentations as RLE with ``counts`` str or bytes, or polygons). ``detections`` is a list of
    ``{image_id, category_id, score, bbox: [x, y, w, h], segmentation: {size, counts}}``;
    ``iou_type`` is ``"bbox"`` or ``"segm"``.

    Returns ``ap`` (AP@[.5:.95]), ``ap50``, ``ap75`` and ``ap_<category name>`` for every
    category (AP@[.5:.95], all areas, 100 detections). Without detections AP is 0 where there is
    ground truth; AP without any ground truth is undefined (nan). pycocotools' console output
    goes to the debug log.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if iou_type not in ("bbox", "segm"):
        raise ValueError(f"iou_type must be 'bbox' or 'segm', not {iou_type!r}")
    categories = sorted(gt_coco.get("categories", []), key=lambda c: c["id"])
    cat_keys = {c["id"]: f"ap_{c['name']}" for c in categories}

    if not detections:
        has_gt = {a["category_id"] for a in gt_coco.get("annotations", [])}
        value = 0.0 if has_gt else float("nan")
        out = {"ap": value, "ap50": value, "ap75": value}
        out.update({key: 0.0 if cid in has_gt else float("nan") for cid, key in cat_keys.items()})
        return out

    image_ids = {img["id"] for img in gt_coco.get("images", [])}
    unknown = {d["image_id"] for d in detections} - image_ids
    if unknown:
        raise ValueError(f"detections refer to images not in the ground truth: {sorted(unknown)}")

    dets = []
    for d in detections:
        d = dict(d)  # loadRes writes id/area/iscrowd into the dicts
        if iou_type == "segm":
            # Without a box, loadRes takes area and box from the mask rather than the box.
            d.pop("bbox", None)
        dets.append(d)

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        gt = COCO()
        gt.dataset = _gt_with_defaults(gt_coco)
        gt.createIndex()
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType=iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    log.debug("pycocotools (%s):\n%s", iou_type, buf.getvalue())

    def mean_ap(p: np.ndarray) -> float:
        p = p[p > -1]
        return float(p.mean()) if p.size else float("nan")

    # precision: [iou thresholds, recall points, categories, area ranges, max dets]
    precision = ev.eval["precision"]
    iou_thrs = ev.params.iouThrs
    all_area, max_dets = 0, len(ev.params.maxDets) - 1
    out = {
        "ap": mean_ap(precision[:, :, :, all_area, max_dets]),
        "ap50": mean_ap(precision[np.isclose(iou_thrs, 0.5), :, :, all_area, max_dets]),
        "ap75": mean_ap(precision[np.isclose(iou_thrs, 0.75), :, :, all_area, max_dets]),
    }
    for k, cid in enumerate(ev.params.catIds):
        out[cat_keys[cid]] = mean_ap(precision[:, :, k, all_area, max_dets])
    return out
