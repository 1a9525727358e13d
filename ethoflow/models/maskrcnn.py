"""Mask R-CNN from torchvision with one class per animal identity.

Backbones:
- ``resnet50_fpn_v2``: torchvision's ``maskrcnn_resnet50_fpn_v2`` (the cluster model).
- ``resnet50_fpn``: torchvision's ``maskrcnn_resnet50_fpn``.
- ``resnet18_fpn`` / ``resnet34_fpn``: a light model that learns from scratch on CPU: trainable
  BatchNorm (the frozen one cannot learn from scratch), FPN over layer2-4 plus a pooled level with
  few channels, smaller RoI heads.
- ``mobilenet_v3_fpn``: torchvision's MobileNetV3-Large FPN backbone, light heads.

``weights`` is ``None`` (train from scratch), a path to a state dict / torchvision checkpoint, or a
torchvision weights name such as ``MaskRCNN_ResNet50_FPN_V2_Weights.COCO_V1`` (only where it is
already in the torch hub cache: nothing is downloaded at run time). Class-specific heads are
re-initialised for the identities.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.detection import MaskRCNN
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.backbone_utils import (
    BackboneWithFPN,
    mobilenet_backbone,
)
from torchvision.models.detection.faster_rcnn import FastRCNNPredictor, TwoMLPHead
from torchvision.models.detection.mask_rcnn import MaskRCNNHeads, MaskRCNNPredictor
from torchvision.models.detection.roi_heads import RoIHeads, expand_boxes, expand_masks
from torchvision.models.detection.transform import (
    GeneralizedRCNNTransform,
    resize_boxes,
    resize_keypoints,
)
from torchvision.ops import MultiScaleRoIAlign
from torchvision.ops import boxes as box_ops
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ..io import EthoflowError
from .weights import load_matching, read_state_dict

BACKBONES = ("resnet18_fpn", "resnet34_fpn", "resnet50_fpn", "resnet50_fpn_v2", "mobilenet_v3_fpn")


class IdentityRoIHeads(RoIHeads):
    """RoI heads whose detections also carry the full identity distribution (``class_scores``)."""

    def postprocess_detections(self, class_logits, box_regression, proposals, image_shapes):
        num_classes = class_logits.shape[-1]
        per_image = [len(p) for p in proposals]
        pred_boxes = self.box_coder.decode(box_regression, proposals)
        pred_scores = F.softmax(class_logits, -1)
        all_boxes, all_scores, all_labels, self._class_scores = [], [], [], []
        for boxes, scores, shape in zip(
            pred_boxes.split(per_image, 0), pred_scores.split(per_image, 0), image_shapes
        ):
            boxes = box_ops.clip_boxes_to_image(boxes, shape)
            n = boxes.shape[0]
            labels = torch.arange(num_classes, device=boxes.device).view(1, -1).expand(n, -1)
            source = torch.arange(n, device=boxes.device).view(-1, 1).expand(n, num_classes)
            # drop background, one candidate per (proposal, identity)
            b = boxes[:, 1:].reshape(-1, 4)
            s = scores[:, 1:].reshape(-1)
            lab = labels[:, 1:].reshape(-1)
            src = source[:, 1:].reshape(-1)
            keep = torch.where(s > self.score_thresh)[0]
            keep = keep[box_ops.remove_small_boxes(b[keep], min_size=1e-2)]
            keep = keep[box_ops.batched_nms(b[keep], s[keep], lab[keep], self.nms_thresh)]
            keep = keep[: self.detections_per_img]
            all_boxes.append(b[keep])
            all_scores.append(s[keep])
            all_labels.append(lab[keep])
            self._class_scores.append(scores[src[keep], 1:])
        return all_boxes, all_scores, all_labels

    def forward(self, features, proposals, image_shapes, targets=None):
        result, losses = super().forward(features, proposals, image_shapes, targets)
        if not self.training:
            for r, cs in zip(result, self._class_scores):
                r["class_scores"] = cs
        return result, losses


def paste_mask_regions(masks: torch.Tensor, boxes: torch.Tensor, image_size, padding: int = 1):
    """torchvision's ``paste_masks_in_image``, but each mask stays in its own region.

    Same steps (the 28 x 28 mask padded by one pixel, its box enlarged by the same ratio, the
    mask resized to the box, the part inside the image kept), so the region holds exactly the
    values torchvision writes into an ``H x W`` frame of zeros: ``[(x0, y0, probs [h, w]), ...]``.
    """
    masks, scale = expand_masks(masks, padding=padding)
    boxes = expand_boxes(boxes, scale).to(dtype=torch.int64).tolist()  # one sync, not 4 per box
    im_h, im_w = (int(s) for s in image_size)
    regions = []
    for m, (bx0, by0, bx1, by1) in zip(masks, boxes):
        w, h = max(bx1 - bx0 + 1, 1), max(by1 - by0 + 1, 1)
        m = F.interpolate(
            m[0].expand((1, 1, -1, -1)), size=(h, w), mode="bilinear", align_corners=False
        )[0][0]
        x0, y0 = min(max(bx0, 0), im_w), min(max(by0, 0), im_h)
        x1, y1 = max(min(bx1 + 1, im_w), x0), max(min(by1 + 1, im_h), y0)
        regions.append((x0, y0, m[y0 - by0 : y1 - by0, x0 - bx0 : x1 - bx0]))
    return regions


class RegionTransform(GeneralizedRCNNTransform):
    """torchvision's detection transform whose eval output keeps masks in their regions.

    ``postprocess`` returns ``mask_regions`` (see :func:`paste_mask_regions`) and ``image_size``
    instead of ``masks [N, 1, H, W]``: no frame-sized array per detection. Set
    ``full_masks = True`` for torchvision's own output.
    """

    full_masks = False

    def postprocess(self, result, image_shapes, original_image_sizes):
        if self.training or self.full_masks:
            return super().postprocess(result, image_shapes, original_image_sizes)
        for pred, im_s, o_im_s in zip(result, image_shapes, original_image_sizes):
            pred["boxes"] = resize_boxes(pred["boxes"], im_s, o_im_s)
            if "masks" in pred:
                pred["mask_regions"] = paste_mask_regions(pred.pop("masks"), pred["boxes"], o_im_s)
                pred["image_size"] = tuple(int(s) for s in o_im_s)
            if "keypoints" in pred:
                pred["keypoints"] = resize_keypoints(pred["keypoints"], im_s, o_im_s)
        return result


def _region_transform(old: GeneralizedRCNNTransform) -> RegionTransform:
    new = RegionTransform(
        old.min_size,
        old.max_size,
        old.image_mean,
        old.image_std,
        size_divisible=old.size_divisible,
        fixed_size=old.fixed_size,
    )
    new._skip_resize = old._skip_resize
    return new


def _resnet_fpn(depth: int, channels: int) -> BackboneWithFPN:
    ctor = {18: torchvision.models.resnet18, 34: torchvision.models.resnet34}[depth]
    body = ctor(weights=None, norm_layer=nn.BatchNorm2d)
    in_ch = [128, 256, 512]
    return BackboneWithFPN(
        body,
        return_layers={"layer2": "0", "layer3": "1", "layer4": "2"},
        in_channels_list=in_ch,
        out_channels=channels,
        extra_blocks=LastLevelMaxPool(),
    )


def _swap_roi_heads(model: MaskRCNN) -> MaskRCNN:
    old = model.roi_heads
    new = IdentityRoIHeads(
        old.box_roi_pool,
        old.box_head,
        old.box_predictor,
        0.5,
        0.5,
        old.fg_bg_sampler.batch_size_per_image,
        old.fg_bg_sampler.positive_fraction,
        None,
        old.score_thresh,
        old.nms_thresh,
        old.detections_per_img,
        mask_roi_pool=old.mask_roi_pool,
        mask_head=old.mask_head,
        mask_predictor=old.mask_predictor,
    )
    new.fg_bg_sampler = old.fg_bg_sampler
    new.proposal_matcher = old.proposal_matcher
    new.box_coder = old.box_coder
    model.roi_heads = new
    return model


def _load_weights(model: MaskRCNN, weights: str) -> None:
    path = Path(weights)
    if path.suffix in (".pt", ".pth") or path.exists():
        state = read_state_dict(path)
    else:
        try:
            enum = torchvision.models.get_weight(weights)
        except (ValueError, AttributeError) as e:
            raise EthoflowError(f"unknown torchvision weights name {weights!r} ({e})") from None
        hub_dir = Path(torch.hub.get_dir()) / "checkpoints"
        cached = hub_dir / Path(enum.url).name
        if not cached.exists():
            raise EthoflowError(
                f"weights {weights!r} are not in the torch hub cache ({cached}); download them "
                "once on a machine with network access, or give a path"
            )
        state = read_state_dict(cached)
    # class-specific layers have another shape: they stay freshly initialised
    load_matching(model, state, weights)


def build_maskrcnn(
    num_classes: int,
    backbone: str = "resnet18_fpn",
    weights: str | None = None,
    min_size: int = 256,
    max_size: int = 256,
    fpn_channels: int = 128,
    anchor_sizes: tuple[int, ...] = (16, 32, 64, 128),
    rpn_pre_nms_top_n_train: int = 600,
    rpn_post_nms_top_n_train: int = 300,
    rpn_pre_nms_top_n_test: int = 300,
    rpn_post_nms_top_n_test: int = 100,
    box_score_thresh: float = 0.05,
    box_detections_per_img: int = 20,
    box_batch_size_per_image: int = 128,
    **ignored,
) -> MaskRCNN:
    """Build a Mask R-CNN with ``num_classes`` identities (+ background)."""
    if backbone not in BACKBONES:
        raise EthoflowError(
            f"unknown Mask R-CNN backbone {backbone!r} (known: {', '.join(BACKBONES)})"
        )
    n = num_classes + 1
    common = dict(
        min_size=min_size,
        max_size=max_size,
        box_score_thresh=box_score_thresh,
        box_detections_per_img=box_detections_per_img,
        box_batch_size_per_image=box_batch_size_per_image,
        rpn_pre_nms_top_n_test=rpn_pre_nms_top_n_test,
        rpn_post_nms_top_n_test=rpn_post_nms_top_n_test,
    )
    if backbone in ("resnet50_fpn", "resnet50_fpn_v2"):
        ctor = getattr(torchvision.models.detection, f"maskrcnn_{backbone}")
        model = ctor(weights=None, weights_backbone=None, num_classes=n, **common)
    else:
        if backbone == "mobilenet_v3_fpn":
            body = mobilenet_backbone(
                backbone_name="mobilenet_v3_large",
                weights=None,
                fpn=True,
                trainable_layers=6,
                norm_layer=nn.BatchNorm2d,
            )
            n_maps = 3
        else:
            body = _resnet_fpn(int(backbone[6:8]), fpn_channels)
            n_maps = 4
        ch = body.out_channels
        sizes = tuple((s,) for s in anchor_sizes[:n_maps])
        if len(sizes) < n_maps:
            raise EthoflowError(f"anchor_sizes needs {n_maps} entries for backbone {backbone}")
        anchors = AnchorGenerator(sizes, ((0.5, 1.0, 2.0),) * n_maps)
        names = [str(i) for i in range(n_maps - 1)]
        model = MaskRCNN(
            body,
            num_classes=None,
            rpn_anchor_generator=anchors,
            rpn_pre_nms_top_n_train=rpn_pre_nms_top_n_train,
            rpn_post_nms_top_n_train=rpn_post_nms_top_n_train,
            box_roi_pool=MultiScaleRoIAlign(names, 7, 2),
            box_head=TwoMLPHead(ch * 7 * 7, 256),
            box_predictor=FastRCNNPredictor(256, n),
            mask_roi_pool=MultiScaleRoIAlign(names, 14, 2),
            mask_head=MaskRCNNHeads(ch, [128, 128], 1),
            mask_predictor=MaskRCNNPredictor(128, 128, n),
            **common,
        )
    if weights:
        _load_weights(model, str(weights))
    model = _swap_roi_heads(model)
    model.transform = _region_transform(model.transform)
    return model
