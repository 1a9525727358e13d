"""torch.hub entry points for ethoflow's YOLACT family.

    torch.hub.load("path/to/ethoflow", "yolact_edge", source="local", num_classes=3)
    torch.hub.load("owner/ethoflow:main", "yolact", num_classes=2, weights="yolact_base.pth")

``weights`` is a local file (ours, or an official YOLACT ``.pth``: parameter names match); nothing
is downloaded. Any other keyword overrides the preset (``backbone``, ``input_size``,
``fpn_channels``, ``keyframe_interval``, ...).
"""

dependencies = ["torch", "torchvision"]

from ethoflow.models.yolact import build_yolact  # noqa: E402


def yolact(num_classes=80, backbone="resnet101", input_size=550, weights=None, **kwargs):
    """YOLACT (upstream yolact_base layout: R101 or R50, FPN P3-P7, 32 prototypes)."""
    return build_yolact(
        num_classes, "yolact", weights, backbone=backbone, input_size=input_size, **kwargs
    )


def yolact_edge(num_classes=80, backbone="resnet18", input_size=384, weights=None, **kwargs):
    """YOLACT-Edge preset: light backbone, smaller input, fp16 + channels-last on CUDA,
    optional key-frame feature re-use (``keyframe_interval``) and ``compile``."""
    return build_yolact(
        num_classes, "yolact_edge", weights, backbone=backbone, input_size=input_size, **kwargs
    )
