"""``make_demo_video``: render a demo scene to a video, its exact truth and LabelMe labels."""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from ethoflow.demo.render import Camera, background
from ethoflow.demo.scene import LOOKS, MIN_VISIBLE, Arena, Scene, make_bodies
from ethoflow.io import EthoflowError, atomic_dir, atomic_path
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T
from ethoflow.io import video as V
from ethoflow.io.boris import write_boris
from ethoflow.io.bouts import BOUT_TABLE_COLUMNS
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name
from ethoflow.io.labelme import write_labelme
from ethoflow.labels.frames import select_frames

log = logging.getLogger(__name__)


def make_demo_video(
    video_path,
    truth_path,
    labels_dir,
    behaviour_path=None,
    *,
    name: str,
    seed: int,
    n_frames: int = 300,
    size: int = 256,
    fps: float = 30.0,
    identities: tuple[str, ...] = ("mouse1", "mouse2", "mouse3"),
    n_labelled: int = 40,
    progress=None,
) -> dict:
    """Render a synthetic demo video, its exact ground truth and LabelMe labels for some frames.

    Writes the video (mp4, H.264) to ``video_path``, the truth track table to ``truth_path`` and
    ``n_labelled`` frames (PNG + LabelMe JSON, ``{name}_{frame:06d}``) into ``labels_dir``
    (always created, empty when ``n_labelled == 0``) and, given ``behaviour_path``, the behaviour
    truth (what the scene's state machine had each animal do, with its partner) as a BORIS
    tabular events file. All appear only if everything succeeds. The same arguments give the
    same truth and labels.

    Returns a summary: name, n_frames, size, fps, identities, labelled frame indices, the number
    of frames where animals touch or overlap and the smallest visible fraction of any animal.
    """
    identities = tuple(identities)
    _check_args(name, identities, n_frames, size, fps, n_labelled)
    t0 = time.perf_counter()
    scene, camera = _setup(seed, size, fps, len(identities))
    log.info(
        "demo %s: rendering %d frames of %dx%d, identities %s, seed %d",
        name,
        n_frames,
        size,
        size,
        ",".join(identities),
        seed,
    )
    frames = range(n_frames)
    if progress is not None:
        frames = tqdm(frames, desc=f"render {name}", file=progress, mininterval=1)
    with contextlib.ExitStack() as stack:
        tmp_video = stack.enter_context(atomic_path(video_path))
        tmp_truth = stack.enter_context(atomic_path(truth_path))
        tmp_labels = stack.enter_context(atomic_dir(labels_dir))
        with V.VideoWriter(tmp_video, fps, size, size) as writer:
            rows, orders, min_visible, states = _render(
                scene, camera, writer, frames, name=name, fps=fps, identities=identities
            )
        truth = pd.DataFrame(rows)
        T.write(truth, tmp_truth)
        bouts = behaviour_bouts(states, name=name, fps=fps, identities=identities)
        if behaviour_path is not None:
            tmp_beh = stack.enter_context(atomic_path(behaviour_path))
            write_boris(bouts, tmp_beh, fps=fps, observation_id=name, media_file=f"{name}.mp4")
            log.info("demo %s: %d behaviour bouts written to %s", name, len(bouts), behaviour_path)
        n_touch = len(T.touching_frames(truth))
        log.info(
            "demo %s: rendered in %.1f s; animals touch in %d of %d frames; "
            "smallest visible fraction %.2f",
            name,
            time.perf_counter() - t0,
            n_touch,
            n_frames,
            min_visible,
        )
        labelled = select_frames(
            tmp_video, n_labelled, method="kmeans", seed=seed, progress=progress
        )
        _write_labels(tmp_video, Path(tmp_labels), truth, orders, labelled, name, identities)
        log.info("demo %s: %d labelled frames written to %s", name, len(labelled), labels_dir)
    log.info("demo %s: done in %.1f s", name, time.perf_counter() - t0)
    return {
        "name": name,
        "n_frames": n_frames,
        "size": size,
        "fps": fps,
        "identities": list(identities),
        "seed": seed,
        "labelled_frames": [int(f) for f in labelled],
        "n_touching_frames": n_touch,
        "min_visible_fraction": round(min_visible, 4),
        "behaviour_bouts": {str(k): int(v) for k, v in bouts["behaviour"].value_counts().items()},
    }


def _check_args(name, identities, n_frames, size, fps, n_labelled) -> None:
    if not 1 <= len(identities) <= len(LOOKS):
        raise EthoflowError(f"demo {name}: 1 to {len(LOOKS)} identities, got {identities}")
    if len(set(identities)) != len(identities):
        raise EthoflowError(f"demo {name}: identity names repeat: {identities}")
    if n_frames < 1 or size < 64 or size % 2 or fps <= 0 or n_labelled < 0:
        raise EthoflowError(
            f"demo {name}: need n_frames >= 1, an even size >= 64, fps > 0, n_labelled >= 0 "
            f"(got n_frames={n_frames}, size={size}, fps={fps}, n_labelled={n_labelled})"
        )


def _setup(seed: int, size: int, fps: float, n: int) -> tuple[Scene, Camera]:
    """The scene of ``n`` animals and its camera; looks, motion and noise use separate streams."""
    rng_look, rng_motion, rng_noise = np.random.default_rng(seed).spawn(3)
    arena = Arena(size)
    looks = list(LOOKS[:n])
    bodies = make_bodies(looks, size / 256, rng_look)
    camera = Camera(background(size, arena, rng_look), rng_noise)
    return Scene(bodies, looks, size, fps, arena, rng_motion), camera


def _render(scene, camera, writer, frames, *, name, fps, identities):
    """Move, lay out and film the scene frame by frame.

    Returns the truth rows, the depth order (back to front) of every frame, the smallest
    visible fraction of any animal and every frame's behaviour of each animal (name, partner).
    """
    rows, orders, states = [], [], []
    min_visible = 1.0
    dilate = max(1, int(round(2 * scene.s)))
    touching: set[tuple[int, int]] = set()
    for t in frames:
        if t > 0:
            scene.shuffle_depth(touching)
            scene.step(touching)
        geoms, full, label, frac = scene.resolve()
        touching = scene.touching(full, dilate)
        min_visible = min(min_visible, float(frac.min()))
        if frac.min() < MIN_VISIBLE:  # pragma: no cover - resolve() prevents this
            raise EthoflowError(f"demo {name}: frame {t}: an animal is hidden")
        writer.write(camera.shoot(scene, geoms, full))
        orders.append(scene.order())
        states.append([scene.behaviour(i) for i in range(scene.n)])
        for i, identity in enumerate(identities):
            mask = label == i
            rows.append(
                dict(
                    video=name,
                    model="truth",
                    frame=t,
                    time_s=t / fps,
                    identity=identity,
                    score=1.0,
                    **T.geometry(mask),
                    mask=M.encode(mask),
                    source="truth",
                )
            )
    return rows, orders, min_visible, states


def behaviour_bouts(states, *, name: str, fps: float, identities) -> pd.DataFrame:
    """Runs of one behaviour with one partner per animal -> a bout table (frames [start, stop))."""
    out = []
    n_frames = len(states)
    for i, animal in enumerate(identities):
        start = 0
        for t in range(1, n_frames + 1):
            if t < n_frames and states[t][i] == states[start][i]:
                continue
            behaviour, partner = states[start][i]
            out.append(
                dict(
                    video=name,
                    animal=animal,
                    partner="" if partner is None else identities[partner],
                    behaviour=behaviour,
                    start_frame=start,
                    stop_frame=t,
                    start_s=start / fps,
                    stop_s=t / fps,
                    duration_s=(t - start) / fps,
                )
            )
            start = t
    return pd.DataFrame(out, columns=BOUT_TABLE_COLUMNS)


def _write_labels(video, labels_dir: Path, truth, orders, labelled, name, identities) -> None:
    """PNG + LabelMe JSON of the ``labelled`` frames, polygons back to front, as decoded."""
    images = V.read_frames(video, labelled)
    wanted = set(labelled)
    by_frame = {f: g for f, g in truth.groupby("frame") if f in wanted}
    for f in labelled:
        stem = frame_name(name, f)
        img = images[f]
        png = labels_dir / f"{stem}.png"
        write_png(img, png)
        g = by_frame[f].set_index("identity")
        write_labelme(
            labels_dir / f"{stem}.json",
            [(identities[i], M.decode(g.at[identities[i], "mask"])) for i in orders[f]],
            image_path=png,
            image_shape=img.shape,
            group_ids=[i + 1 for i in orders[f]],
        )
