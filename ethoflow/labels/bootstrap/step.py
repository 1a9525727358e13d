"""The workflow's step: masks from one video's keypoints, written as LabelMe files with a quality
table and overlays for the report."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.defaults import BOOTSTRAP
from ethoflow.io import EthoflowError, atomic_dir, read_json, read_rgb
from ethoflow.io import keypoints as K
from ethoflow.io import video as V
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name
from ethoflow.io.labelme import write_labelme
from ethoflow.labels.bootstrap.masks import (
    edge_indices,
    instance_masks,
    keypoint_arrays,
    keypoint_exclusion,
)
from ethoflow.labels.bootstrap.overlay import zoomed_overlay
from ethoflow.labels.foreground import background_model, check_image

log = logging.getLogger(__name__)


TABLE_COLUMNS = ["name", "identity", "area", "keypoints_inside", "flags"]


def _check_frame(name: str, image, shape) -> np.ndarray:
    image = check_image(image, f"frame {name}")
    if shape is not None and image.shape != shape:
        raise EthoflowError(
            f"frame {name}: image of shape {image.shape}, but the other frames are {shape}"
        )
    return image


def _even(items: list, n: int) -> list:
    """At most ``n`` of ``items``, evenly spread, first and last included."""
    if len(items) <= n:
        return list(items)
    return [items[int(round(i))] for i in np.linspace(0, len(items) - 1, n)]


def bootstrap_frames(
    frames: dict[str, np.ndarray],
    keypoints: dict[str, dict[str, np.ndarray]],
    out_dir: str | os.PathLike,
    *,
    background: np.ndarray | None = None,
    edges_idx: Sequence[tuple[int, int]] | None = None,
    progress=None,
    overlays: int = 0,
    **kw,
) -> pd.DataFrame:
    """Masks from keypoints for every frame: ``out_dir/{name}.png`` (the image),
    ``out_dir/{name}.json`` (LabelMe polygons, one per identity) and ``out_dir/bootstrap.csv``
    (the returned table). The folder appears whole or not at all (it replaces an older one).
    ``overlays``: that many frames, evenly spread, are also drawn with their masks and
    keypoints (:func:`overlay`) as ``out_dir/overlays/{name}.png``, for the report.

    ``frames``: name (e.g. ``fly_000123``) -> image (HxWx3 RGB or HxW uint8, all one shape);
    ``keypoints``: name -> {identity: (K, 2)} (every frame needs an entry). ``background``: an
    image from :func:`background_model`, or None (adaptive threshold). ``kw`` go to
    :func:`instance_masks`.
    ``progress``: a file for a tqdm bar (None: no bar). The table has a row per frame and
    identity: ``name, identity, area, keypoints_inside, flags`` (flags joined by ``;``).
    """
    from tqdm import tqdm

    missing = [n for n in frames if n not in keypoints]
    if missing:
        raise EthoflowError(f"bootstrap: no keypoints for frames {missing[:5]}")
    out_dir = Path(out_dir)
    rows = []
    with atomic_dir(out_dir) as tmp:
        shape = None
        bar = tqdm(
            frames.items(),
            total=len(frames),
            file=progress,
            disable=progress is None,
            desc="masks from keypoints",
            unit="frame",
        )
        names = list(frames)
        drawn = set(_even(names, int(overlays))) if overlays > 0 else set()
        if drawn:
            (tmp / "overlays").mkdir()
        for name, image in bar:
            image = _check_frame(name, image, shape)
            shape = image.shape
            try:
                masks, info = instance_masks(
                    image, keypoints[name], background=background, edges_idx=edges_idx, **kw
                )
            except EthoflowError as e:
                raise EthoflowError(f"frame {name}: {e}") from None
            png = tmp / f"{name}.png"
            write_png(image, png)
            write_labelme(
                tmp / f"{name}.json",
                [(idn, masks[idn]) for idn in sorted(masks) if masks[idn].any()],
                image_path=png,
                image_shape=shape,
            )
            if name in drawn:
                view = zoomed_overlay(image, masks, keypoints[name])
                write_png(view, tmp / "overlays" / f"{name}.png")
            for idn, d in info.items():
                rows.append(
                    dict(
                        name=name,
                        identity=idn,
                        area=d["area"],
                        keypoints_inside=d["keypoints_inside"],
                        flags=";".join(d["flags"]),
                    )
                )
        table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
        table.to_csv(tmp / "bootstrap.csv", index=False)
    n_flagged = int((table["flags"].str.len() > 0).sum()) if len(table) else 0
    log.info(
        "masks from keypoints: %d frames, %d instances (%d flagged) in %s",
        len(frames),
        len(table),
        n_flagged,
        out_dir,
    )
    return table


#: Keys of the config's ``bootstrap`` section that choose frames; every other key goes to
#: :func:`instance_masks` (and through it to :func:`foreground`).
STEP_KEYS = ("frames", "background_frames", "overlay_frames")


def _extracted_indices(frames_dir: Path) -> list[int]:
    meta = frames_dir / "frames.json"
    if not meta.is_file():
        raise EthoflowError(f"{meta}: not found (the frame extraction writes it)")
    doc = read_json(meta)
    if not isinstance(doc, dict) or not isinstance(doc.get("frames"), list):
        raise EthoflowError(f"{meta}: no `frames` list")
    return sorted(int(i) for i in doc["frames"])


def bootstrap_video(
    video_path: str | os.PathLike,
    keypoints_path: str | os.PathLike,
    frames_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    video: str,
    settings: dict,
    progress=None,
) -> pd.DataFrame:
    """The workflow's step: LabelMe files of masks bootstrapped from one video's keypoints.

    ``keypoints_path``: the video's keypoint table (:func:`ethoflow.io.keypoints.write_keypoints`,
    already in the coordinates of ``video_path``). ``settings``: the config's ``bootstrap``
    section. ``frames: extracted`` bootstraps the frames the frame extraction picked
    (``frames_dir/frames.json``) that have keypoints; ``frames: labelled`` every labelled frame
    (for DeepLabCut projects: the labelled images, which need not come from this video).
    The background is the median of ``background_frames`` labelled frames (images) spread over
    the labels, with each animal cut out around its keypoints, so animals that rest do not
    become background. Files are named ``{video}_{frame:06d}`` (a frame of the video, so a
    corrected file of the same name in the labels folder replaces it) or
    ``{video}_image-{stem}`` (a labelled image that is not a frame of the video).
    """
    settings = dict(settings or {})
    mode = settings.get("frames", BOOTSTRAP["frames"])
    if mode not in ("extracted", "labelled"):
        raise EthoflowError(f"bootstrap.frames is {mode!r}: expected 'extracted' or 'labelled'")
    n_background = int(settings.get("background_frames", BOOTSTRAP["background_frames"]))
    n_overlays = int(settings.get("overlay_frames", BOOTSTRAP["overlay_frames"]))
    mask_kw = {k: v for k, v in settings.items() if k not in STEP_KEYS}

    ks = K.load_keypoints(keypoints_path)
    per_frame = keypoint_arrays(ks)
    edges_idx = edge_indices(ks.nodes, ks.edges)
    on_images = ks.table["image"].notna().any()
    images = {}
    if on_images:
        first = ks.table.groupby("frame", sort=True)["image"].first()
        images = {int(f): str(p) for f, p in first.items()}

    labelled = sorted(per_frame)
    if mode == "extracted":
        if on_images:
            raise EthoflowError(
                f"{keypoints_path}: the keypoints label images, not frames of {video_path}, so "
                "the extracted frames have none: set bootstrap.frames: labelled"
            )
        extracted = _extracted_indices(Path(frames_dir))
        chosen = [f for f in extracted if f in per_frame]
        if not chosen:
            raise EthoflowError(
                f"{keypoints_path}: none of the {len(extracted)} frames extracted from "
                f"{video_path} has keypoints (labelled frames: {labelled[:5]}...): label them, "
                "or set bootstrap.frames: labelled"
            )
        log.info("%s: %d of %d extracted frames have keypoints", video, len(chosen), len(extracted))
    else:
        chosen = labelled
    background_src = _even(labelled, n_background)

    def name_of(f: int) -> str:
        if on_images:
            return f"{video}_image-{Path(images[f]).stem}"
        return frame_name(video, f)

    wanted = sorted(set(chosen) | set(background_src))
    if on_images:
        pixels = {f: read_rgb(images[f], "labelled image") for f in wanted}
    else:
        pixels = V.read_frames(video_path, wanted)

    bg_images = [pixels[f] for f in background_src]
    shapes = {im.shape for im in bg_images}
    background = None
    if len(shapes) == 1:  # else bootstrap_frames refuses the mixed sizes, naming a frame
        excl = [keypoint_exclusion(bg_images[0].shape, per_frame[f]) for f in background_src]
        background = background_model(bg_images, exclude=excl)
    log.info(
        "%s: background from %d labelled frames; masks for %d frames (%s)",
        video,
        len(background_src),
        len(chosen),
        mode,
    )
    frames = {name_of(f): pixels[f] for f in chosen}
    kps = {name_of(f): per_frame[f] for f in chosen}
    return bootstrap_frames(
        frames,
        kps,
        out_dir,
        background=background,
        edges_idx=edges_idx,
        progress=progress,
        overlays=n_overlays,
        **mask_kw,
    )
