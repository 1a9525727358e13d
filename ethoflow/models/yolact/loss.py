"""YOLACT's training losses (upstream ``MultiBoxLoss`` with the yolact_base options).

- ``loss_box``: smooth-L1 on the encoded offsets of positive anchors;
- ``loss_conf``: softmax cross-entropy with online hard-negative mining, negatives:positives 3:1;
- ``loss_mask``: per positive anchor, BCE of its assembled mask (prototypes x coefficients,
  sigmoid) cropped to its ground-truth box, averaged over the box area;
- ``loss_semantic``: auxiliary per-class semantic segmentation on P3 (BCE with logits).

Box, confidence and mask losses are divided by the number of positives in the batch, the
semantic loss by the batch size, as upstream.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from . import box_utils as B


def _downsample(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    if masks.shape[0] == 0:
        return masks.new_zeros((0, *size), dtype=torch.float32)
    m = F.interpolate(masks[None].float(), size=size, mode="bilinear", align_corners=False)[0]
    return (m > 0.5).float()


def yolact_loss(model, p: dict, targets: list[dict], sizes: list[tuple[int, int]]) -> dict:
    loc, conf, coef, proto, segm = p["loc"], p["conf"], p["coef"], p["proto"], p["segm"]
    priors = p["priors"]
    n_img, n_priors, n_cls = conf.shape
    dev = conf.device
    mh, mw = proto.shape[1:3]
    sh, sw = segm.shape[-2:]

    loc_t = torch.zeros(n_img, n_priors, 4, device=dev)
    conf_t = torch.zeros(n_img, n_priors, dtype=torch.long, device=dev)
    idx_t = torch.zeros(n_img, n_priors, dtype=torch.long, device=dev)
    truths = []
    for b, (t, (h, w)) in enumerate(zip(targets, sizes)):
        scale = torch.tensor([w, h, w, h], dtype=torch.float32, device=dev)
        boxes = t["boxes"].to(dev).float() / scale
        labels = t["labels"].to(dev).long()
        truths.append((boxes, labels, t["masks"].to(dev)))
        loc_t[b], conf_t[b], idx_t[b] = B.match(
            boxes, labels, priors, model.pos_threshold, model.neg_threshold
        )
    pos = conf_t > 0
    num_pos = pos.sum(1)
    total_pos = num_pos.sum().clamp(min=1).float()

    # boxes
    loss_box = F.smooth_l1_loss(loc[pos], loc_t[pos], reduction="sum")

    # confidence with hard-negative mining
    with torch.no_grad():
        flat = conf.reshape(-1, n_cls)
        bg_loss = (torch.logsumexp(flat, 1) - flat[:, 0]).view(n_img, -1)
        bg_loss[pos] = 0
        bg_loss[conf_t < 0] = 0
        _, order = bg_loss.sort(1, descending=True)
        _, rank = order.sort(1)
        num_neg = torch.clamp(model.negpos_ratio * num_pos, max=n_priors - 1)
        neg = rank < num_neg.unsqueeze(1)
        neg[pos] = False
        neg[conf_t < 0] = False
    keep = pos | neg
    loss_conf = F.cross_entropy(conf[keep], conf_t[keep].clamp(min=0), reduction="sum")

    # masks and semantic segmentation
    loss_mask = conf.new_zeros(())
    loss_sem = conf.new_zeros(())
    for b, (boxes, labels, masks) in enumerate(truths):
        sem_t = torch.zeros(model.num_classes, sh, sw, device=dev)
        if len(labels):
            down = _downsample(masks, (sh, sw))
            for k, lab in enumerate(labels.tolist()):
                sem_t[lab - 1] = torch.maximum(sem_t[lab - 1], down[k])
        loss_sem = loss_sem + F.binary_cross_entropy_with_logits(
            segm[b].float(), sem_t, reduction="sum"
        ) / (sh * sw)
        pidx = torch.nonzero(pos[b]).squeeze(1)
        if len(pidx) == 0:
            continue
        if len(pidx) > model.masks_to_train:
            pidx = pidx[torch.randperm(len(pidx), device=dev)[: model.masks_to_train]]
        gt_idx = idx_t[b, pidx]
        gt_masks = _downsample(masks, (mh, mw))[gt_idx]  # [n, mh, mw]
        gt_boxes = boxes[gt_idx]
        pred = torch.sigmoid(proto[b] @ coef[b, pidx].T).permute(2, 0, 1)  # [n, mh, mw]
        pred = B.crop(pred, gt_boxes)
        bce = F.binary_cross_entropy(pred.clamp(0, 1), gt_masks, reduction="none")
        wh = B.center_size(gt_boxes)[:, 2:]
        area = (wh[:, 0] * mw * wh[:, 1] * mh).clamp(min=1.0)
        loss_mask = loss_mask + (bce.sum((1, 2)) / area).sum()

    w = model.loss_weights
    return {
        "loss_box": loss_box * w["box"] / total_pos,
        "loss_conf": loss_conf * w["conf"] / total_pos,
        "loss_mask": loss_mask * w["mask"] / total_pos,
        "loss_semantic": loss_sem * w["semantic"] / n_img,
    }
