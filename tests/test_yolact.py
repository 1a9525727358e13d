"""YOLACT / YOLACT-Edge: torch.hub entry points, upstream parameter layout, losses, Fast NMS,
key-frame feature re-use and weight loading."""

import os

import pytest
import torch

from ethoflow.io import EthoflowError
from ethoflow.models import build_model
from ethoflow.models.yolact import box_utils as B
from ethoflow.models.yolact.model import Yolact

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def blob_sample(size=128, seed=0):
    """One image with two bright rectangles of two identities, as a detection target."""
    g = torch.Generator().manual_seed(seed)
    img = torch.rand(3, size, size, generator=g) * 0.1
    masks = torch.zeros(2, size, size, dtype=torch.uint8)
    boxes = []
    for k, (x, y, w, h, c) in enumerate(
        [
            (size // 8, size // 6, size // 3, size // 4, 0),
            (size // 2, size // 2, size // 4, size // 3, 1),
        ]
    ):
        img[c, y : y + h, x : x + w] = 1.0
        masks[k, y : y + h, x : x + w] = 1
        boxes.append([x, y, x + w, y + h])
    target = {
        "boxes": torch.tensor(boxes, dtype=torch.float32),
        "labels": torch.tensor([1, 2]),
        "masks": masks,
    }
    return img, target


def test_hub_yolact_edge_trains_and_infers(monkeypatch):
    monkeypatch.chdir(REPO)
    torch.manual_seed(0)
    model = torch.hub.load(".", "yolact_edge", source="local", num_classes=3)
    assert isinstance(model, Yolact) and model.input_size == 384
    img, target = blob_sample(160)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    first = last = None
    for _ in range(12):
        losses = model([img, img.flip(-1)], [target, _flip(target, 160)])
        assert set(losses) == {"loss_box", "loss_conf", "loss_mask", "loss_semantic"}
        loss = sum(losses.values())
        assert torch.isfinite(loss)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
        last = loss.item()
    assert last < 0.7 * first, (first, last)
    model.eval()
    with torch.no_grad():
        (out,) = model([img])
    n = len(out["scores"])
    assert out["boxes"].shape == (n, 4) and len(out["mask_regions"]) == n
    assert out["image_size"] == (160, 160)
    model.full_masks = True  # upstream's form: full-frame masks
    with torch.no_grad():
        (full,) = model([img])
    model.full_masks = False
    assert full["masks"].shape == (n, 1, 160, 160)
    for (x0, y0, r), m in zip(out["mask_regions"], full["masks"][:, 0]):
        assert torch.equal(m[y0 : y0 + r.shape[0], x0 : x0 + r.shape[1]], r)
        assert m.sum() == pytest.approx(r.sum().item(), rel=1e-5)
    assert out["class_scores"].shape == (n, 3) and out["labels"].min() >= 1 if n else True
    assert (out["boxes"] >= 0).all() and (out["boxes"] <= 160).all()


def _flip(t, w):
    b = t["boxes"].clone()
    b[:, [0, 2]] = w - t["boxes"][:, [2, 0]]
    return {"boxes": b, "labels": t["labels"], "masks": t["masks"].flip(-1)}


# shapes of upstream yolact_base (R101, 81 classes incl. background) / yolact_resnet50
UPSTREAM_HEADS = {
    "fpn.lat_layers.0.weight": (256, 2048, 1, 1),
    "fpn.lat_layers.1.weight": (256, 1024, 1, 1),
    "fpn.lat_layers.2.weight": (256, 512, 1, 1),
    "fpn.pred_layers.0.weight": (256, 256, 3, 3),
    "fpn.pred_layers.2.weight": (256, 256, 3, 3),
    "fpn.downsample_layers.0.weight": (256, 256, 3, 3),
    "fpn.downsample_layers.1.weight": (256, 256, 3, 3),
    "proto_net.0.weight": (256, 256, 3, 3),
    "proto_net.2.weight": (256, 256, 3, 3),
    "proto_net.4.weight": (256, 256, 3, 3),
    "proto_net.8.weight": (256, 256, 3, 3),
    "proto_net.10.weight": (32, 256, 1, 1),
    "prediction_layers.0.upfeature.0.weight": (256, 256, 3, 3),
    "prediction_layers.0.bbox_layer.weight": (12, 256, 3, 3),
    "prediction_layers.0.conf_layer.weight": (243, 256, 3, 3),
    "prediction_layers.0.mask_layer.weight": (96, 256, 3, 3),
    "semantic_seg_conv.weight": (80, 256, 1, 1),
}


@pytest.mark.parametrize(
    "backbone,blocks,last_key,last_shape",
    [
        ("resnet101", (3, 4, 23, 3), "backbone.layers.2.22.conv3.weight", (1024, 256, 1, 1)),
        ("resnet50", (3, 4, 6, 3), "backbone.layers.2.5.conv3.weight", (1024, 256, 1, 1)),
    ],
)
def test_state_dict_keys_follow_upstream_yolact(
    monkeypatch, backbone, blocks, last_key, last_shape
):
    monkeypatch.chdir(REPO)
    sd = torch.hub.load(
        ".", "yolact", source="local", num_classes=80, backbone=backbone
    ).state_dict()
    for k, shape in UPSTREAM_HEADS.items():
        assert tuple(sd[k].shape) == shape, k
        assert k.replace(".weight", ".bias") in sd
    assert tuple(sd[last_key].shape) == last_shape
    assert tuple(sd["backbone.conv1.weight"].shape) == (64, 3, 7, 7)
    assert "backbone.bn1.running_var" in sd
    for stage, n in enumerate(blocks):
        assert f"backbone.layers.{stage}.{n - 1}.bn3.weight" in sd
        assert f"backbone.layers.{stage}.{n}.conv1.weight" not in sd
        assert f"backbone.layers.{stage}.0.downsample.0.weight" in sd
        assert f"backbone.layers.{stage}.0.downsample.1.running_mean" in sd
    heads = {k for k in sd if not k.startswith("backbone.")}
    expected = {k for k in UPSTREAM_HEADS} | {k.replace(".weight", ".bias") for k in UPSTREAM_HEADS}
    fpn_rest = {f"fpn.pred_layers.1.{p}" for p in ("weight", "bias")}
    assert heads == expected | fpn_rest
    bottleneck = 3 + 3 * 5  # 3 convs, 3 batch norms (weight, bias, mean, var, count)
    assert len(sd) - len(heads) == 6 + sum(blocks) * bottleneck + 4 * 6


def test_official_layout_weights_load_and_class_layers_are_reinitialised(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    torch.manual_seed(1)
    coco = torch.hub.load(".", "yolact", source="local", num_classes=80, backbone="resnet50")
    path = tmp_path / "yolact_resnet50_54_800000.pth"
    torch.save(coco.state_dict(), path)  # upstream saves a bare state dict, same names
    mine = torch.hub.load(
        ".", "yolact", source="local", num_classes=3, backbone="resnet50", weights=str(path)
    )
    a, b = coco.state_dict(), mine.state_dict()
    assert torch.equal(a["backbone.layers.3.2.conv2.weight"], b["backbone.layers.3.2.conv2.weight"])
    assert torch.equal(a["proto_net.10.weight"], b["proto_net.10.weight"])
    assert b["prediction_layers.0.conf_layer.weight"].shape[0] == 3 * 4
    assert b["semantic_seg_conv.weight"].shape[0] == 3


def test_bad_weights_files_are_refused_with_their_name(tmp_path):
    with pytest.raises(EthoflowError, match="nothere.pth"):
        build_model("yolact", 3, dict(backbone="resnet18", weights=str(tmp_path / "nothere.pth")))

    class Boom:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    evil = tmp_path / "evil.pth"
    torch.save({"x": Boom()}, evil)
    with pytest.raises(EthoflowError, match="evil.pth"):
        build_model("yolact", 3, dict(backbone="resnet18", weights=str(evil)))
    with pytest.raises(EthoflowError, match="backbone"):
        build_model("yolact", 3, dict(backbone="resnet7"))


def test_fast_nms_suppresses_with_suppressed_boxes_too():
    # A overlaps B, B overlaps C, A does not overlap C: classic NMS keeps A and C,
    # Fast NMS keeps only A (B, though suppressed, still suppresses C).
    boxes = torch.tensor([[0.0, 0, 0.4, 0.4], [0.1, 0, 0.5, 0.4], [0.2, 0, 0.6, 0.4]])
    scores = torch.tensor([[0.9, 0.8, 0.7]])
    idx, cls, s = B.fast_nms(boxes, scores, iou_threshold=0.5)
    assert idx.tolist() == [0] and cls.tolist() == [0]
    # per class: the same box in two classes survives in both
    idx, cls, s = B.fast_nms(boxes[:1], torch.tensor([[0.9], [0.6]]), iou_threshold=0.5)
    assert sorted(cls.tolist()) == [0, 1]
    # below the score threshold: gone
    idx, _, _ = B.fast_nms(boxes, torch.tensor([[0.01, 0.02, 0.03]]), score_threshold=0.05)
    assert len(idx) == 0


def test_match_gives_every_truth_its_best_prior_and_ignores_the_middle():
    priors = torch.tensor(
        [[0.25, 0.25, 0.5, 0.5], [0.75, 0.75, 0.2, 0.2], [0.3, 0.3, 0.5, 0.5], [0.5, 0.5, 1, 1]]
    )
    truths = torch.tensor([[0.0, 0.0, 0.5, 0.5], [0.7, 0.7, 1.0, 1.0]])
    loc, conf, idx = B.match(truths, torch.tensor([1, 2]), priors)
    assert conf[0] == 1  # exact match
    assert conf[1] == 2 and idx[1] == 1  # IoU 0.44 < 0.5, but it is truth 2's best prior
    assert conf[2] == 1  # IoU 0.68 with truth 1
    assert conf[3] in (0, -1) and conf[3] == 0  # IoU 0.25: background
    # encode/decode round trip
    dec = B.decode(loc, priors)
    assert torch.allclose(dec[0], truths[0], atol=1e-5) and torch.allclose(
        dec[1], truths[1], atol=1e-5
    )


def test_keyframe_feature_reuse_runs_the_deep_stages_on_key_frames_only():
    torch.manual_seed(0)
    model = Yolact(3, backbone="resnet18", input_size=128, fpn_channels=32, proto_channels=32)
    model.eval()
    model.conf_threshold = 0.0  # keep detections on an untrained model
    calls = []
    model.backbone.layers[3].register_forward_hook(lambda m, i, o: calls.append(o.shape[0]))
    img, _ = blob_sample(128)
    frames = [img, img, img.flip(-1), img.flip(-1)]
    with torch.no_grad():
        full = model(frames)
        assert calls == [4]
        model.keyframe_interval = 2
        calls.clear()
        reuse = model(frames, consecutive=True)
        assert calls == [2]  # C5 on frames 0 and 2 only
        calls.clear()
        model(frames)  # not consecutive (e.g. validation images): no re-use
        assert calls == [4]
    # frames identical to their key frame give identical detections
    for a, b in zip(full, reuse):
        assert torch.allclose(a["scores"], b["scores"], atol=1e-5)
        assert torch.allclose(a["boxes"], b["boxes"], atol=1e-3)


def test_training_loss_without_instances_is_finite():
    model = Yolact(2, backbone="resnet18", input_size=96, fpn_channels=16, proto_channels=16)
    model.train()
    empty = {
        "boxes": torch.zeros((0, 4)),
        "labels": torch.zeros((0,), dtype=torch.long),
        "masks": torch.zeros((0, 96, 96), dtype=torch.uint8),
    }
    losses = model([torch.rand(3, 96, 96)], [empty])
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
