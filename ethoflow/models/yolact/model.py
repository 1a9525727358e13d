"""YOLACT (Bolya et al. 2019) and its YOLACT-Edge speed preset (Liu et al. 2021).

One-stage instance segmentation: a ResNet backbone, an FPN over C3-C5 plus two strided levels
(P3-P7), a protonet on P3 that makes ``num_prototypes`` mask prototypes, and one prediction head
shared by all levels that gives, per anchor, box offsets, class confidences and tanh mask
coefficients. Masks are linear combinations of the prototypes, cropped to the box.

Module and parameter names follow upstream YOLACT (``backbone.layers.*``, ``fpn.lat_layers.*``,
``fpn.pred_layers.*``, ``fpn.downsample_layers.*``, ``proto_net.*``, ``prediction_layers.0.*``,
``semantic_seg_conv``) so official YOLACT ``.pth`` files load. Same torchvision-detection calling
convention as the other families (see ``ethoflow.models``).

Feature re-use (YOLACT-Edge's idea, without its flow network): with ``keyframe_interval = k > 1``
and a batch of consecutive frames, only every k-th frame runs the whole backbone; the frames in
between compute C3 afresh and borrow C4/C5 from their key frame. Off by default; measured by
``bench/model_speed.py``.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...io import EthoflowError
from ..weights import load_matching, read_state_dict
from . import box_utils as B
from .backbone import DEPTHS, ResNetBackbone
from .loss import yolact_loss

# RGB order, 0..255 scale (upstream's BGR means/stds, reordered: its transform converts to RGB)
MEAN = (123.68, 116.78, 103.94)
STD = (58.40, 57.12, 57.38)

PRESETS = {
    # upstream yolact_base (R101) / yolact_resnet50: 550 px, 256-channel FPN and protonet
    "yolact": dict(
        backbone="resnet101",
        input_size=550,
        fpn_channels=256,
        proto_channels=256,
        keyframe_interval=1,
        half=False,
        channels_last=False,
        compile=False,
    ),
    # speed preset: light backbone, smaller input, thinner FPN/protonet, fp16 + channels-last on
    # CUDA; feature re-use and torch.compile are options (measured in bench/model_speed.py)
    "yolact_edge": dict(
        backbone="resnet18",
        input_size=384,
        fpn_channels=128,
        proto_channels=128,
        keyframe_interval=1,
        half=True,
        channels_last=True,
        compile=False,
    ),
}


class Interpolate(nn.Module):
    def __init__(self, scale_factor: float):
        super().__init__()
        self.scale_factor = scale_factor

    def forward(self, x):
        return F.interpolate(
            x, scale_factor=self.scale_factor, mode="bilinear", align_corners=False
        )


def make_proto_net(in_channels: int, channels: int, num_prototypes: int) -> nn.Sequential:
    """Upstream ``mask_proto_net``: 3 x conv3x3, x2 upsample, conv3x3, conv1x1 -> prototypes.

    Indices (hence state-dict keys 0, 2, 4, 8, 10) match upstream's ``make_net`` layout.
    """
    layers: list[nn.Module] = []
    c = in_channels
    for _ in range(3):
        layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
        c = channels
    layers += [Interpolate(2), nn.ReLU(inplace=True)]
    layers += [nn.Conv2d(c, channels, 3, padding=1), nn.ReLU(inplace=True)]
    layers += [nn.Conv2d(channels, num_prototypes, 1)]
    return nn.Sequential(*layers)


class FPN(nn.Module):
    """Feature pyramid over C3..C5 plus ``num_downsample`` strided 3x3 levels (P6, P7)."""

    def __init__(self, in_channels: list[int], num_features: int = 256, num_downsample: int = 2):
        super().__init__()
        # upstream order: lat_layers[0] is the deepest level
        self.lat_layers = nn.ModuleList(
            [nn.Conv2d(c, num_features, kernel_size=1) for c in reversed(in_channels)]
        )
        self.pred_layers = nn.ModuleList(
            [nn.Conv2d(num_features, num_features, 3, padding=1) for _ in in_channels]
        )
        self.downsample_layers = nn.ModuleList(
            [
                nn.Conv2d(num_features, num_features, 3, padding=1, stride=2)
                for _ in range(num_downsample)
            ]
        )

    def forward(self, convouts: list[torch.Tensor]) -> list[torch.Tensor]:
        n = len(convouts)
        out: list[torch.Tensor] = [None] * n  # type: ignore[list-item]
        x = None
        for k, lat in enumerate(self.lat_layers):
            j = n - 1 - k
            y = lat(convouts[j])
            if x is not None:
                y = y + F.interpolate(x, size=y.shape[-2:], mode="bilinear", align_corners=False)
            x = out[j] = y
        for k, pred in enumerate(self.pred_layers):
            j = n - 1 - k
            out[j] = F.relu(pred(out[j]))
        for down in self.downsample_layers:
            out.append(down(out[-1]))
        return out


class PredictionModule(nn.Module):
    """The head shared by every pyramid level: box, class confidence and mask coefficients."""

    def __init__(self, in_channels: int, channels: int, num_priors: int, num_classes: int, k: int):
        super().__init__()
        self.num_classes, self.k = num_classes, k
        self.upfeature = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3, padding=1), nn.ReLU(inplace=True)
        )
        self.bbox_layer = nn.Conv2d(channels, num_priors * 4, 3, padding=1)
        self.conf_layer = nn.Conv2d(channels, num_priors * num_classes, 3, padding=1)
        self.mask_layer = nn.Conv2d(channels, num_priors * k, 3, padding=1)

    def forward(self, x):
        x = self.upfeature(x)
        n = x.shape[0]
        box = self.bbox_layer(x).permute(0, 2, 3, 1).reshape(n, -1, 4)
        conf = self.conf_layer(x).permute(0, 2, 3, 1).reshape(n, -1, self.num_classes)
        coef = torch.tanh(self.mask_layer(x).permute(0, 2, 3, 1).reshape(n, -1, self.k))
        return box, conf, coef


class Yolact(nn.Module):
    """YOLACT with ``num_classes`` identities (background is class 0 internally)."""

    supports_feature_reuse = True
    # eval output: ``mask_regions`` (each mask's box region, see ``box_utils.crop_regions``) and
    # ``image_size``; True: full-frame ``masks [N, 1, H, W]`` as upstream YOLACT returns them
    full_masks = False

    def __init__(
        self,
        num_classes: int,
        backbone: str = "resnet101",
        input_size: int = 550,
        fpn_channels: int = 256,
        proto_channels: int = 256,
        num_prototypes: int = 32,
        anchor_scales: tuple[float, ...] = (24, 48, 96, 192, 384),
        aspect_ratios: tuple[float, ...] = (1.0, 0.5, 2.0),
        pos_threshold: float = 0.5,
        neg_threshold: float = 0.4,
        negpos_ratio: int = 3,
        masks_to_train: int = 100,
        loss_weights: dict | None = None,
        conf_threshold: float = 0.05,
        nms_threshold: float = 0.5,
        top_k: int = 200,
        max_detections: int = 20,
        keyframe_interval: int = 1,
        half: bool = False,
        channels_last: bool = False,
        compile: bool = False,
    ):
        super().__init__()
        depth = int(str(backbone).removeprefix("resnet"))
        if depth not in DEPTHS:
            raise EthoflowError(
                f"unknown YOLACT backbone {backbone!r} (known: "
                + ", ".join(f"resnet{d}" for d in DEPTHS)
                + ")"
            )
        if len(anchor_scales) != 5:
            raise EthoflowError("YOLACT anchor_scales needs 5 entries (P3..P7)")
        self.num_classes = num_classes
        self.input_size = int(input_size)
        self.anchor_scales = tuple(float(s) for s in anchor_scales)
        self.aspect_ratios = tuple(float(a) for a in aspect_ratios)
        self.pos_threshold, self.neg_threshold = pos_threshold, neg_threshold
        self.negpos_ratio, self.masks_to_train = negpos_ratio, masks_to_train
        self.loss_weights = {"box": 1.5, "conf": 1.0, "mask": 6.125, "semantic": 1.0}
        self.loss_weights.update(loss_weights or {})
        self.conf_threshold, self.nms_threshold = conf_threshold, nms_threshold
        self.top_k, self.max_detections = top_k, max_detections
        self.keyframe_interval = max(1, int(keyframe_interval))
        self.half, self.channels_last, self.compile = bool(half), bool(channels_last), bool(compile)

        self.backbone = ResNetBackbone(depth)
        self.fpn = FPN(self.backbone.channels[1:], fpn_channels, num_downsample=2)
        self.proto_net = make_proto_net(fpn_channels, proto_channels, num_prototypes)
        self.prediction_layers = nn.ModuleList(
            [
                PredictionModule(
                    fpn_channels,
                    fpn_channels,
                    len(self.aspect_ratios),
                    num_classes + 1,
                    num_prototypes,
                )
            ]
        )
        self.semantic_seg_conv = nn.Conv2d(fpn_channels, num_classes, kernel_size=1)
        self.register_buffer("mean", torch.tensor(MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(STD).view(1, 3, 1, 1), persistent=False)
        self._init_heads()
        self._priors: dict = {}
        self._compiled = None
        self._cuda_ready = False

    def _init_heads(self):
        for m in [self.fpn, self.proto_net, self.prediction_layers, self.semantic_seg_conv]:
            for mod in m.modules():
                if isinstance(mod, nn.Conv2d):
                    nn.init.xavier_uniform_(mod.weight)
                    nn.init.zeros_(mod.bias)
        # start with background confident (focal-loss style prior): stable from scratch
        conf = self.prediction_layers[0].conf_layer
        bias = conf.bias.view(len(self.aspect_ratios), -1)
        with torch.no_grad():
            bias[:, 0] = math.log(0.99 * self.num_classes / 0.01)

    # --- geometry -----------------------------------------------------------------------------
    def priors_for(self, level: int, h: int, w: int, device) -> torch.Tensor:
        """Anchors (cx, cy, w, h), normalised; scale ``anchor_scales[level] / 550`` of the input
        (upstream's pixel scales at 550 px, so they scale with ``input_size``)."""
        key = (level, h, w, str(device))
        if key not in self._priors:
            s = self.anchor_scales[level] / 550.0
            ys, xs = torch.meshgrid(
                (torch.arange(h, dtype=torch.float32) + 0.5) / h,
                (torch.arange(w, dtype=torch.float32) + 0.5) / w,
                indexing="ij",
            )
            per_ar = []
            for ar in self.aspect_ratios:
                r = math.sqrt(ar)
                per_ar.append(
                    torch.stack(
                        [xs, ys, torch.full_like(xs, s * r), torch.full_like(xs, s / r)], -1
                    )
                )
            self._priors[key] = torch.stack(per_ar, 2).reshape(-1, 4).to(device)
        return self._priors[key]

    # --- network ------------------------------------------------------------------------------
    def _prep(self, images: list[torch.Tensor]) -> torch.Tensor:
        s = self.input_size
        same = all(im.shape == images[0].shape for im in images)
        if same:
            x = torch.stack(images)
            if x.shape[-2:] != (s, s):
                x = F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False)
        else:
            x = torch.cat(
                [
                    F.interpolate(im[None], size=(s, s), mode="bilinear", align_corners=False)
                    for im in images
                ]
            )
        x = (x * 255.0 - self.mean) / self.std
        if self.channels_last and x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """P3..P7 for every image of the batch."""
        return self.fpn(self.backbone(x)[1:])

    def features_reuse(self, x: torch.Tensor, k: int) -> list[torch.Tensor]:
        """P3..P7 for a batch of consecutive frames, the full backbone on every k-th frame only."""
        n = x.shape[0]
        key = self.backbone(x[::k])  # C2..C5 of the key frames
        rest = [i for i in range(n) if i % k]
        c3 = key[1].new_empty((n, *key[1].shape[1:]))
        c3[::k] = key[1]
        if rest:
            c3[rest] = self.backbone(x[rest], stages=2)[1]
        src = torch.arange(n, device=x.device) // k
        return self.fpn([c3, key[2][src], key[3][src]])

    def heads(self, feats: list[torch.Tensor], semantic: bool = False) -> dict:
        proto = F.relu(self.proto_net(feats[0])).permute(0, 2, 3, 1)  # [B, h, w, k]
        locs, confs, coefs, priors = [], [], [], []
        head = self.prediction_layers[0]
        for level, f in enumerate(feats):
            box, conf, coef = head(f)
            locs.append(box)
            confs.append(conf)
            coefs.append(coef)
            priors.append(self.priors_for(level, f.shape[-2], f.shape[-1], f.device))
        out = dict(
            loc=torch.cat(locs, 1),
            conf=torch.cat(confs, 1),
            coef=torch.cat(coefs, 1),
            priors=torch.cat(priors, 0),
            proto=proto,
        )
        if semantic:
            out["segm"] = self.semantic_seg_conv(feats[0])
        return out

    def _core(self, x: torch.Tensor) -> dict:
        return self.heads(self.features(x))

    def forward(self, images, targets=None, consecutive: bool = False):
        sizes = [tuple(im.shape[-2:]) for im in images]
        if self.training and targets is None:
            raise ValueError("YOLACT in training mode needs targets")
        x = self._prep(images)
        if self.training:
            return yolact_loss(self, self.heads(self.features(x), semantic=True), targets, sizes)
        cuda = x.is_cuda
        if cuda and not self._cuda_ready:
            if self.channels_last:
                self.to(memory_format=torch.channels_last)
            self._cuda_ready = True
        with torch.autocast("cuda", dtype=torch.float16, enabled=cuda and self.half):
            if consecutive and self.keyframe_interval > 1 and x.shape[0] > 1:
                preds = self.heads(self.features_reuse(x, self.keyframe_interval))
            elif self.compile:
                if self._compiled is None:
                    self._compiled = torch.compile(self._core)
                preds = self._compiled(x)
            else:
                preds = self._core(x)
        return self.postprocess(preds, sizes)

    # --- inference ----------------------------------------------------------------------------
    def postprocess(self, p: dict, sizes: list[tuple[int, int]]) -> list[dict]:
        results = []
        priors = p["priors"].float()
        for b, (h, w) in enumerate(sizes):
            dev = priors.device
            probs = p["conf"][b].float().softmax(-1)[:, 1:]  # [P, C] identities
            cand = torch.nonzero(probs.max(1).values > self.conf_threshold).squeeze(1)
            if len(cand) == 0:
                results.append(self._empty(h, w, dev))
                continue
            boxes = B.decode(p["loc"][b][cand].float(), priors[cand])
            pi, cls, score = B.fast_nms(
                boxes, probs[cand].T, self.nms_threshold, self.top_k, self.conf_threshold
            )
            order = score.argsort(descending=True)[: self.max_detections]
            pi, cls, score = pi[order], cls[order], score[order]
            box = boxes[pi].clamp(0, 1)
            coef = p["coef"][b][cand][pi].float()
            m = torch.sigmoid(p["proto"][b].float() @ coef.T).permute(2, 0, 1)  # [n, mh, mw]
            if len(m):
                m = F.interpolate(m[None], size=(h, w), mode="bilinear", align_corners=False)[0]
            else:
                m = m.new_zeros((0, h, w))
            scale = torch.tensor([w, h, w, h], dtype=box.dtype, device=dev)
            out = dict(boxes=box * scale, labels=cls + 1, scores=score)
            if self.full_masks:
                out["masks"] = B.crop(m, box, padding=0)[:, None]
            else:
                out["mask_regions"] = B.crop_regions(m, box, padding=0)
                out["image_size"] = (int(h), int(w))
            out["class_scores"] = probs[cand][pi]
            results.append(out)
        return results

    def _empty(self, h, w, dev) -> dict:
        out = dict(
            boxes=torch.zeros((0, 4), device=dev),
            labels=torch.zeros((0,), dtype=torch.long, device=dev),
            scores=torch.zeros((0,), device=dev),
        )
        if self.full_masks:
            out["masks"] = torch.zeros((0, 1, h, w), device=dev)
        else:
            out["mask_regions"], out["image_size"] = [], (int(h), int(w))
        out["class_scores"] = torch.zeros((0, self.num_classes), device=dev)
        return out


def load_weights(model: Yolact, weights: str | Path) -> dict:
    """Load a YOLACT state dict (ours or an official upstream ``.pth``), ``weights_only=True``.

    Parameters whose shape differs (class-specific layers for another class count) stay freshly
    initialised. Returns ``{"loaded": n, "skipped": [...]}``.
    """
    return load_matching(model, read_state_dict(weights), str(weights))


def build_yolact(
    num_classes: int, preset: str = "yolact", weights: str | None = None, **overrides
) -> Yolact:
    """A YOLACT from a preset (``yolact`` or ``yolact_edge``) with overrides."""
    if preset not in PRESETS:
        raise EthoflowError(f"unknown YOLACT preset {preset!r} (known: {', '.join(PRESETS)})")
    kw = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    allowed = set(inspect.signature(Yolact).parameters) - {"num_classes"}
    unknown = sorted(set(kw) - allowed)
    if unknown:
        raise EthoflowError(f"unknown YOLACT setting(s): {', '.join(unknown)}")
    model = Yolact(num_classes, **kw)
    if weights:
        load_weights(model, weights)
    return model
