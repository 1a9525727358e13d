"""Model families behind one interface (torchvision detection style).

Every family builds a ``torch.nn.Module`` that, in training mode, takes ``(images, targets)`` and
returns a dict of losses, and in eval mode takes a list of CHW float images in [0, 1] and returns,
per image, a dict with ``boxes`` (N x 4, x1y1x2y2), ``labels`` (N, 1-based identity index),
``scores`` (N), ``masks`` (N x 1 x H x W probabilities) and ``class_scores`` (N x C: the
probability of every identity for that detection, which the tracker uses).
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..io import EthoflowError, atomic_path

FORMAT = "ethoflow-model/1"


def build_model(family: str, num_classes: int, settings: dict) -> torch.nn.Module:
    """``num_classes`` counts identities only (background is added by the family)."""
    if family == "maskrcnn":
        from .maskrcnn import build_maskrcnn

        return build_maskrcnn(num_classes=num_classes, **settings)
    raise EthoflowError(f"unknown model family {family!r} (known: maskrcnn)")


def save_model(
    model: torch.nn.Module,
    path,
    *,
    family: str,
    settings: dict,
    identities: list[str],
    extra: dict | None = None,
) -> None:
    payload = {
        "format": FORMAT,
        "family": family,
        "settings": settings,
        "identities": list(identities),
        "extra": extra or {},
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_model(path: str | os.PathLike, device: str | torch.device = "cpu"):
    """Load a trained model saved by :func:`save_model` (``weights_only=True``: no code runs)."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: model file not found") from None
    except Exception as e:  # unpickling errors, truncated files
        raise EthoflowError(f"{path}: not a loadable ethoflow model ({e})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise EthoflowError(f"{path}: not an ethoflow model file (format != {FORMAT})")
    settings = dict(payload["settings"])
    settings["weights"] = None  # trained weights follow; never fetch pretrained ones here
    model = build_model(payload["family"], len(payload["identities"]), settings)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return model, payload


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EthoflowError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(name)
