"""Pictures of bootstrapped masks: each identity's mask and keypoints drawn on its frame, zoomed
onto the animals so small animals in a large frame stay visible in the report."""

from __future__ import annotations

import cv2
import numpy as np

from ethoflow.io.draw import identity_colors_255
from ethoflow.labels.bootstrap.masks import visible_points
from ethoflow.labels.foreground import check_image


def zoomed_overlay(
    image: np.ndarray, masks: dict, keypoints: dict | None, pad: float = 0.5, size: int = 256
) -> np.ndarray:
    """:func:`overlay` of the part of ``image`` around the animals (their masks and keypoints,
    grown by ``pad`` x their extent, at least 32 px, square), enlarged to about ``size`` px
    first: small animals in a large frame stay visible in the report."""
    image = check_image(image)
    h, w = image.shape[:2]
    keypoints = keypoints or {}
    pts = [np.argwhere(np.asarray(m))[:, ::-1] for m in masks.values()]
    pts += [visible_points(kp) for kp in keypoints.values()]
    pts = [p for p in pts if len(p)]
    if not pts:
        return overlay(image, masks, keypoints)
    allp = np.concatenate(pts)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    side = int(min(max(h, w), max(32.0, float((hi - lo).max()) * (1 + 2 * pad))))
    cx, cy = (lo + hi) / 2
    x0 = int(np.clip(round(cx - side / 2), 0, max(0, w - side)))
    y0 = int(np.clip(round(cy - side / 2), 0, max(0, h - side)))
    box = np.s_[y0 : y0 + side, x0 : x0 + side]
    k = max(1, size // side)

    def up(a):
        return np.kron(a, np.ones((k, k) + (1,) * (a.ndim - 2), a.dtype)) if k > 1 else a

    crop = up(np.ascontiguousarray(image[box]))
    crop_masks = {i: up(np.asarray(m, bool)[box]) for i, m in masks.items()}
    crop_kps = {
        i: (np.asarray(kp, float) - [x0, y0]) * k + (k - 1) / 2 for i, kp in keypoints.items()
    }
    return overlay(crop, crop_masks, crop_kps)


def overlay(
    image: np.ndarray,
    masks: dict[str, np.ndarray],
    keypoints: dict[str, np.ndarray] | None = None,
    *,
    alpha: float = 0.45,
) -> np.ndarray:
    """RGB uint8 copy of ``image`` with each identity's mask filled translucently, its outline
    drawn and its keypoints as dots; one colour per identity (by sorted name, from
    :func:`ethoflow.io.draw.identity_colors_255`)."""
    image = check_image(image)
    out = image if image.ndim == 3 else image[:, :, None]
    out = np.ascontiguousarray(np.repeat(out, 3, axis=2) if out.shape[2] == 1 else out[:, :, :3])
    out = out.copy()
    ids = sorted(set(masks) | set(keypoints or {}))
    colors = identity_colors_255(ids)
    thick = max(1, round(max(out.shape[:2]) / 500))
    for idn, m in masks.items():
        m = np.asarray(m, bool)
        blend = (1 - alpha) * out[m] + alpha * np.array(colors[idn], np.float32)
        out[m] = np.round(blend).astype(np.uint8)
    for idn, m in masks.items():
        contours, _ = cv2.findContours(
            np.asarray(m, np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
        )
        cv2.drawContours(out, contours, -1, colors[idn], thick, lineType=cv2.LINE_AA)
    for idn, kp in (keypoints or {}).items():
        for x, y in np.clip(visible_points(kp), -1e5, 1e5):
            centre = (int(round(x)), int(round(y)))
            cv2.circle(out, centre, thick + 2, (0, 0, 0), -1, lineType=cv2.LINE_AA)
            cv2.circle(out, centre, thick + 1, colors[idn], -1, lineType=cv2.LINE_AA)
    return out
