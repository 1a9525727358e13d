"""Pretrained/partial weights for any model family: read a state-dict file safely and load the
parameters that fit (``weights_only=True``: unpickling runs no code)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..io import EthoflowError


def read_state_dict(path: str | os.PathLike) -> dict:
    """A state dict from a ``.pt``/``.pth`` file (bare, or under ``state_dict``/``model``)."""
    path = Path(path)
    if not path.exists():
        raise EthoflowError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors, truncated files, code in the pickle
        raise EthoflowError(f"{path}: not a loadable weights file ({e})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict):
        raise EthoflowError(f"{path}: no state dict inside")
    return state


def load_matching(model: torch.nn.Module, state: dict, source: str) -> dict:
    """Load the parameters of ``state`` whose name and shape fit ``model``; the others (class
    layers for another class count) keep their fresh initialisation.

    Returns ``{"loaded": n, "skipped": [names]}``; raises when nothing fits.
    """
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not usable:
        raise EthoflowError(f"{source}: no parameter in these weights fits the model")
    model.load_state_dict(usable, strict=False)
    return {"loaded": len(usable), "skipped": sorted(set(state) - set(usable))}
