"""Box geometry for YOLACT: prior encoding, matching, Fast NMS and mask cropping.

Boxes are normalised to [0, 1]. ``point`` form is (x1, y1, x2, y2), ``center`` form (cx, cy, w, h).
"""

from __future__ import annotations

import torch

VARIANCES = (0.1, 0.2)


def point_form(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat((boxes[..., :2] - boxes[..., 2:] / 2, boxes[..., :2] + boxes[..., 2:] / 2), -1)


def center_size(boxes: torch.Tensor) -> torch.Tensor:
    return torch.cat(((boxes[..., :2] + boxes[..., 2:]) / 2, boxes[..., 2:] - boxes[..., :2]), -1)


def jaccard(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of point-form boxes: ``[..., A, 4] x [..., B, 4] -> [..., A, B]`` (batched or not)."""
    lt = torch.maximum(a[..., :, None, :2], b[..., None, :, :2])
    rb = torch.minimum(a[..., :, None, 2:], b[..., None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
    return inter / (area_a[..., :, None] + area_b[..., None, :] - inter).clamp(min=1e-9)


def encode(matched: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Point-form ground truth matched to each prior -> regression targets (SSD encoding)."""
    c = center_size(matched)
    g_cxcy = (c[:, :2] - priors[:, :2]) / (VARIANCES[0] * priors[:, 2:])
    g_wh = torch.log(c[:, 2:].clamp(min=1e-6) / priors[:, 2:]) / VARIANCES[1]
    return torch.cat((g_cxcy, g_wh), 1)


def decode(loc: torch.Tensor, priors: torch.Tensor) -> torch.Tensor:
    """Regression outputs -> point-form boxes."""
    cxcy = priors[:, :2] + loc[:, :2] * VARIANCES[0] * priors[:, 2:]
    wh = priors[:, 2:] * torch.exp(loc[:, 2:].clamp(max=8.0) * VARIANCES[1])
    return point_form(torch.cat((cxcy, wh), 1))


def match(
    truths: torch.Tensor,
    labels: torch.Tensor,
    priors: torch.Tensor,
    pos_threshold: float = 0.5,
    neg_threshold: float = 0.4,
):
    """Assign every prior a ground-truth box.

    Returns ``(loc_t [P, 4], conf_t [P], idx_t [P])``: conf_t is the 1-based class for positives,
    0 for background and -1 for neutral priors (IoU between the two thresholds: ignored).
    """
    n_priors = priors.shape[0]
    if truths.shape[0] == 0:
        return (
            torch.zeros(n_priors, 4, device=priors.device),
            torch.zeros(n_priors, dtype=torch.long, device=priors.device),
            torch.zeros(n_priors, dtype=torch.long, device=priors.device),
        )
    overlaps = jaccard(truths, point_form(priors))  # [T, P]
    best_truth_overlap, best_truth_idx = overlaps.max(0)
    # every truth keeps its best prior, whatever the thresholds (greedy, best pairs first)
    ov = overlaps.clone()
    for _ in range(truths.shape[0]):
        flat = int(ov.argmax())
        t, p = divmod(flat, n_priors)
        if ov[t, p] < 0:
            break
        best_truth_overlap[p] = 2.0
        best_truth_idx[p] = t
        ov[t, :] = -1
        ov[:, p] = -1
    conf = labels[best_truth_idx].clone()
    conf[best_truth_overlap < pos_threshold] = -1
    conf[best_truth_overlap < neg_threshold] = 0
    loc = encode(truths[best_truth_idx], priors)
    return loc, conf, best_truth_idx


def _crop_keep(boxes: torch.Tensor, h: int, w: int, padding: int, dtype, device):
    """Which columns ``[N, W]`` and rows ``[N, H]`` lie inside each (normalised) box."""
    x1 = (boxes[:, 0] * w - padding).clamp(min=0)
    x2 = (boxes[:, 2] * w + padding).clamp(max=w)
    y1 = (boxes[:, 1] * h - padding).clamp(min=0)
    y2 = (boxes[:, 3] * h + padding).clamp(max=h)
    xs = torch.arange(w, device=device, dtype=dtype).view(1, w) + 0.5
    ys = torch.arange(h, device=device, dtype=dtype).view(1, h) + 0.5
    cols = (xs >= x1.view(-1, 1)) & (xs < x2.view(-1, 1))
    rows = (ys >= y1.view(-1, 1)) & (ys < y2.view(-1, 1))
    return cols, rows


def crop(masks: torch.Tensor, boxes: torch.Tensor, padding: int = 1) -> torch.Tensor:
    """Zero ``masks [N, H, W]`` outside their point-form ``boxes [N, 4]`` (normalised)."""
    n, h, w = masks.shape
    cols, rows = _crop_keep(boxes, h, w, padding, masks.dtype, masks.device)
    return masks * (rows[:, :, None] & cols[:, None, :])


def crop_regions(masks: torch.Tensor, boxes: torch.Tensor, padding: int = 1) -> list:
    """The part of each mask inside its box, as ``[(x0, y0, probs [h, w]), ...]``.

    The same pixels :func:`crop` keeps (everything outside is zero there), copied out on the
    mask's device, so the frame-sized masks can be freed at once and only these regions need
    to travel to the CPU.
    """
    n, h, w = masks.shape
    cols, rows = _crop_keep(boxes, h, w, padding, masks.dtype, masks.device)
    first = torch.stack([cols.int().argmax(1), rows.int().argmax(1), cols.sum(1), rows.sum(1)], 1)
    regions = []
    for m, (x0, y0, nx, ny) in zip(masks, first.tolist()):
        x0, y0 = (x0, y0) if nx and ny else (0, 0)
        regions.append((x0, y0, m[y0 : y0 + ny, x0 : x0 + nx].clone()))
    return regions


def fast_nms(
    boxes: torch.Tensor,
    scores: torch.Tensor,
    iou_threshold: float = 0.5,
    top_k: int = 200,
    score_threshold: float = 0.05,
):
    """YOLACT's Fast NMS, per class, fully parallel.

    ``boxes [P, 4]`` point form, ``scores [C, P]``. A box is suppressed when any higher-scoring box
    of its class overlaps it by more than ``iou_threshold`` (even a box that was itself
    suppressed: that is what makes it a single matrix operation).
    Returns ``(prior_index, class_index, score)`` of the kept detections.
    """
    scores, idx = scores.sort(1, descending=True)
    idx = idx[:, :top_k]
    scores = scores[:, :top_k]
    n_cls, k = idx.shape
    b = boxes[idx.reshape(-1)].view(n_cls, k, 4)
    iou = jaccard(b, b).triu_(diagonal=1)
    iou_max = iou.max(dim=1).values if k else torch.zeros_like(scores)
    keep = (iou_max <= iou_threshold) & (scores > score_threshold)
    classes = torch.arange(n_cls, device=boxes.device).view(-1, 1).expand_as(keep)
    return idx[keep], classes[keep], scores[keep]
