"""Animals against their floor: a background model and the foreground, for the masks bootstrapped
from keypoints (:mod:`ethoflow.labels.bootstrap`) and the classical baseline tracker
(:mod:`ethoflow.tracking.classical`).

A background model (:func:`background_model`) is a per-pixel percentile of frames sampled across
a video, with the animals optionally cut out of each frame; the foreground (:func:`foreground`)
is every pixel that differs from it by more than ``diff_threshold`` (or, without a background,
an adaptive threshold), cleaned by an opening, a closing, hole filling and a minimum area.
Keyword defaults are those of the config's ``bootstrap`` section (:mod:`ethoflow.defaults`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import cv2
import numpy as np
from scipy import ndimage as ndi

from ethoflow.defaults import BOOTSTRAP
from ethoflow.io import EthoflowError

log = logging.getLogger(__name__)


POLARITIES = ("auto", "dark", "light")


def check_image(image, what: str = "image") -> np.ndarray:
    image = np.asarray(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
        raise EthoflowError(f"{what} has shape {image.shape}: expected HxW or HxWx3")
    if image.dtype != np.uint8:
        raise EthoflowError(f"{what} has dtype {image.dtype}: expected uint8")
    return image


def grey(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    if image.ndim == 3:
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, :3]), cv2.COLOR_RGB2GRAY)
    return image


def disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def background_model(
    frames: Sequence[np.ndarray],
    *,
    percentile: float = 50.0,
    exclude: Sequence[np.ndarray] | None = None,
) -> np.ndarray:
    """Per-pixel median (or ``percentile``) of ``frames`` sampled across a video (uint8, the
    frames' shape).

    Animals that move vanish from the median. Animals that rest in one place for more than half
    the sampled frames stay in it: then pass ``exclude``, one bool HxW mask per frame, True where
    that frame shows an animal (from :func:`keypoint_exclusion`), or take a low percentile (e.g.
    10) for light animals on a dark floor, a high one (90) for dark animals on a light floor.
    Pixels excluded in every frame (an animal that never moved away) are inpainted from the
    floor around them.
    """
    if len(frames) == 0:
        raise EthoflowError("background_model: no frames given")
    shapes = {np.asarray(f).shape for f in frames}
    if len(shapes) != 1:
        raise EthoflowError(f"background_model: frames differ in shape: {sorted(shapes)}")
    if not 0 <= percentile <= 100:
        raise EthoflowError(f"background_model: percentile {percentile} is not in 0..100")
    stack = np.stack([check_image(f, "background frame") for f in frames])
    n, h = stack.shape[:2]
    if exclude is not None:
        if len(exclude) != n:
            raise EthoflowError(f"background_model: {len(exclude)} exclusion masks, {n} frames")
        ex = np.stack([np.asarray(e, dtype=bool) for e in exclude])
        if ex.shape != stack.shape[:3]:
            raise EthoflowError(
                f"background_model: exclusion masks are {ex.shape[1:]}, frames {stack.shape[1:3]}"
            )
    out = np.empty(stack.shape[1:], np.uint8)
    never = np.zeros(stack.shape[1:3], bool)
    q = percentile / 100.0
    for r0 in range(0, h, 64):  # row blocks bound the memory of the sort
        vals = np.moveaxis(stack[:, r0 : r0 + 64], 0, -1)  # (rows, W[, C], N)
        if exclude is None:
            out[r0 : r0 + 64] = np.sort(vals, axis=-1)[..., int(round(q * (n - 1)))]
            continue
        exb = np.moveaxis(ex[:, r0 : r0 + 64], 0, -1)
        if vals.ndim == 4:
            exb = np.broadcast_to(exb[:, :, None, :], vals.shape)
        valid = (~exb).sum(axis=-1)
        masked = np.sort(np.where(exb, np.uint16(65535), vals.astype(np.uint16)), axis=-1)
        k = np.round(q * np.maximum(valid - 1, 0)).astype(np.int64)
        picked = np.take_along_axis(masked, k[..., None], axis=-1)[..., 0]
        out[r0 : r0 + 64] = picked.astype(np.uint8)
        never[r0 : r0 + 64] = (valid == 0) if valid.ndim == 2 else (valid == 0).any(axis=-1)
    if never.any():
        # An animal that never left these pixels in the sampled frames: fill them from the
        # floor around them, never from the animal itself.
        log.info("background: %d px never free of animals, filled from around them", never.sum())
        if never.all():
            raise EthoflowError("background_model: every pixel is excluded in every frame")
        out = cv2.inpaint(out, never.astype(np.uint8), 5, cv2.INPAINT_TELEA)
    return out


def _auto_polarity(grey: np.ndarray) -> str:
    """Animals are the minority of pixels: on a dark floor they are light, and vice versa."""
    return "light" if float(np.median(grey)) < 128 else "dark"


def _clean(mask: np.ndarray, min_area: int, open_px: int, close_px: int) -> np.ndarray:
    m = mask.astype(np.uint8)
    if open_px > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_OPEN, disk(open_px))
    if close_px > 0:
        m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, disk(close_px))
    m = ndi.binary_fill_holes(m)
    return large_components(m, min_area) if min_area > 0 else m.astype(bool)


def large_components(mask: np.ndarray, min_area: int) -> np.ndarray:
    """``mask`` (bool HxW) without its 8-connected components under ``min_area`` px."""
    n, lab, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[1:] = stats[1:, cv2.CC_STAT_AREA] >= min_area
    return keep[lab]


def foreground(
    image: np.ndarray,
    background: np.ndarray | None = None,
    *,
    diff_threshold: float = BOOTSTRAP["diff_threshold"],
    polarity: str = BOOTSTRAP["polarity"],
    block_size: int = BOOTSTRAP["block_size"],
    offset: float = BOOTSTRAP["offset"],
    min_area: int = BOOTSTRAP["min_area"],
    open_px: int = BOOTSTRAP["open_px"],
    close_px: int = BOOTSTRAP["close_px"],
) -> np.ndarray:
    """Bool HxW mask of the animals in ``image`` (HxW grey or HxWx3 RGB uint8).

    With a ``background`` (from :func:`background_model`): pixels whose difference to it
    (grey, or the largest over the colour channels) exceeds ``diff_threshold``; ``polarity``
    "light" counts only pixels brighter than the background, "dark" only darker ones, "auto"
    both. Without: an adaptive threshold, pixels lighter ("light") or darker ("dark") than the
    mean of the ``block_size`` px square around them by more than ``offset``; "auto" takes light
    animals where the image's median grey is below 128, dark ones otherwise. Then an opening
    (disk of radius ``open_px``: noise), a closing (``close_px``), hole filling, and components
    under ``min_area`` px are dropped.
    """
    return foreground_details(
        image,
        background,
        diff_threshold=diff_threshold,
        polarity=polarity,
        block_size=block_size,
        offset=offset,
        min_area=min_area,
        open_px=open_px,
        close_px=close_px,
    )[0]


def foreground_details(
    image,
    background,
    *,
    diff_threshold=BOOTSTRAP["diff_threshold"],
    polarity=BOOTSTRAP["polarity"],
    block_size=BOOTSTRAP["block_size"],
    offset=BOOTSTRAP["offset"],
    min_area=BOOTSTRAP["min_area"],
    open_px=BOOTSTRAP["open_px"],
    close_px=BOOTSTRAP["close_px"],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The foreground, the animal-likeness image (uint8, high on animals), the score that was
    thresholded (float32) and its threshold."""
    image = check_image(image)
    if polarity not in POLARITIES:
        raise EthoflowError(f"polarity {polarity!r} is not one of {POLARITIES}")
    g = grey(image)
    if background is not None:
        background = check_image(background, "background")
        if background.shape[:2] != image.shape[:2]:
            raise EthoflowError(
                f"the background is {background.shape[1]}x{background.shape[0]} but the image "
                f"is {image.shape[1]}x{image.shape[0]} (width x height)"
            )
        img, bg = image.astype(np.float32), background.astype(np.float32)
        if img.shape != bg.shape:
            img, bg = g.astype(np.float32), grey(background).astype(np.float32)
        diff = img - bg
        score = {"light": diff, "dark": -diff, "auto": np.abs(diff)}[polarity]
        if score.ndim == 3:
            score = score.max(axis=2)
        threshold = float(diff_threshold)
        likeness = np.clip(score, 0, 255).astype(np.uint8)
    else:
        if polarity == "auto":
            polarity = _auto_polarity(g)
        block = max(3, int(block_size) | 1)
        local = cv2.blur(g.astype(np.float32), (block, block), borderType=cv2.BORDER_REPLICATE)
        score = g - local if polarity == "light" else local - g
        threshold = float(offset)
        likeness = g if polarity == "light" else 255 - g
    fg = _clean(score > threshold, int(min_area), int(open_px), int(close_px))
    return fg, likeness, score, threshold
