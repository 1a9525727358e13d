"""Model families behind one interface (torchvision detection style).

Every family builds a ``torch.nn.Module`` that, in training mode, takes ``(images, targets)`` and
returns a dict of losses, and in eval mode takes a list of CHW float images in [0, 1] and returns,
per image, a dict with ``boxes`` (N x 4, x1y1x2y2), ``labels`` (N, 1-based identity index),
``scores`` (N), the masks and ``class_scores`` (N x C: the probability of every identity for that
detection, which the tracker uses).

Masks come in one of two forms. This workflow's families return ``mask_regions``: per detection
``(x0, y0, probs [h, w])``, the only rectangle where its mask can be non-zero (for Mask R-CNN the
box torchvision pastes the 28 x 28 mask into, for YOLACT its crop box), left on the model's
device, plus ``image_size`` ``(H, W)``. Mask R-CNN makes no frame-sized array per detection;
YOLACT assembles its masks at frame size on the device (as upstream) and keeps only the crops.
No frame-sized array per detection reaches the host. A model
from elsewhere may return torchvision's ``masks`` (N x 1 x H x W probabilities) instead; the
inference step takes both (:func:`ethoflow.tracking.infer.detections_from_output`) and gives the
same RLE either way. ``full_masks = True`` (on the Mask R-CNN's ``transform``, on a YOLACT
model) switches ours to the full-frame form.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..io import EthoflowError, atomic_path

FORMAT = "ethoflow-model/1"


FAMILIES = ("maskrcnn", "yolact", "yolact_edge")
HUB_FAMILIES = ("yolact", "yolact_edge")  # obtained through torch.hub (entry = family name)
REPO_ROOT = Path(__file__).resolve().parents[2]


def hub_load(entry: str, hub: dict | None = None, **kwargs) -> torch.nn.Module:
    """``torch.hub.load(<repo>, entry, source=...)``; the repo defaults to this workflow's own
    directory (``source="local"``); on a cluster it can name a GitHub repo (``owner/name:ref``)
    already in the hub cache."""
    hub = hub or {}
    repo = hub.get("repo") or str(REPO_ROOT)
    source = hub.get("source") or "local"
    if source == "local" and not (Path(repo) / "hubconf.py").exists():
        raise EthoflowError(f"hub repo {repo}: no hubconf.py there")
    extra = {} if source == "local" else {"trust_repo": True}
    try:
        return torch.hub.load(repo, entry, source=source, verbose=False, **extra, **kwargs)
    except EthoflowError:
        raise
    except (RuntimeError, OSError, ValueError) as e:
        raise EthoflowError(
            f"torch.hub.load({repo!r}, {entry!r}, source={source!r}): {e}"
        ) from None


def build_model(
    family: str, num_classes: int, settings: dict, hub: dict | None = None
) -> torch.nn.Module:
    """``num_classes`` counts identities only (background is added by the family).

    ``hub`` (``{"repo": ..., "source": "local" | "github"}``) says where the YOLACT families come
    from; Mask R-CNN comes from torchvision.
    """
    if family == "maskrcnn":
        from .maskrcnn import build_maskrcnn

        return build_maskrcnn(num_classes=num_classes, **settings)
    if family in HUB_FAMILIES:
        return hub_load(family, hub, num_classes=num_classes, **settings)
    raise EthoflowError(f"unknown model family {family!r} (known: {', '.join(FAMILIES)})")


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


def load_model(
    path: str | os.PathLike, device: str | torch.device = "cpu", hub: dict | None = None
):
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
    model = build_model(payload["family"], len(payload["identities"]), settings, hub)
    model.load_state_dict(payload["state_dict"])
    model.to(device).eval()
    return model, payload


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise EthoflowError(f"device {name!r} requested but CUDA is not available on this machine")
    return torch.device(name)
