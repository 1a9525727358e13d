"""YOLACT / YOLACT-Edge, own implementation with upstream parameter names (see ``model``)."""

from .model import PRESETS, Yolact, build_yolact, load_weights

__all__ = ["PRESETS", "Yolact", "build_yolact", "load_weights"]
