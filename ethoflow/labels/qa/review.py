"""Review queues (flagged frames as pre-filled LabelMe files) and the workflow's QA steps."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ethoflow.io import EthoflowError, atomic_dir, atomic_path, tracktable
from ethoflow.io import masks as M
from ethoflow.io import video as V
from ethoflow.io.images import write_png
from ethoflow.io.labelled import frame_name
from ethoflow.io.labelme import write_labelme
from ethoflow.labels.annotations import load_label_file, resolve_label_inputs
from ethoflow.labels.qa.checks import (
    CHECKS,
    check,
    read_qa,
    settings_of,
    summary,
    to_arrow,
    write,
)

log = logging.getLogger(__name__)


QUEUE_COLUMNS = ["name", "frame", "checks", "details"]


def worst_first(qa: pd.DataFrame, limit: int | None = None) -> pd.DataFrame:
    """The flagged frames, most flags first, then by name: the review queue.

    Columns ``video, name, frame, checks, details, n_flags``; ``checks`` lists the checks that
    fired (``missingx2``: twice), ``details`` their details, ``"; "``-joined.
    """
    cols = ["video", *QUEUE_COLUMNS, "n_flags"]
    if not len(qa):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    key = ["video", "name"]
    g = qa.groupby(key, sort=False)
    q = pd.DataFrame(
        {
            "frame": g["frame"].first(),
            "details": g["detail"].agg("; ".join),
            "n_flags": g.size(),
        }
    )
    counts = qa.groupby([*key, "check"], sort=False).size().unstack("check", fill_value=0)
    counts = counts.reindex(columns=[c for c in CHECKS if c in counts.columns])
    labels = [
        [("" if n == 0 else c if n == 1 else f"{c}x{n}") for n in counts[c].tolist()]
        for c in counts.columns
    ]
    checks = [" ".join(x for x in parts if x) for parts in zip(*labels)]
    q["checks"] = pd.Series(checks, index=counts.index).reindex(q.index)
    q = q.reset_index()[cols]
    q = q.sort_values(["n_flags", "name"], ascending=[False, True], kind="stable")
    if limit is not None:
        q = q.head(max(int(limit), 0))
    return q.reset_index(drop=True)


def write_review_frame(
    folder: str | os.PathLike,
    name: str,
    image: np.ndarray,
    instances: Sequence[tuple[str, dict]],
    identities: Sequence[str],
) -> None:
    """``{name}.json`` (LabelMe, image embedded) and ``{name}.png`` in ``folder``, the masks
    of ``instances`` (identity, RLE) as polygons. An identity given twice keeps both instances
    (different group ids): LabelMe shows both and the loader refuses the file until one is
    removed."""
    folder = Path(folder)
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    image = image[:, :, :3].astype(np.uint8, copy=False)
    h, w = image.shape[:2]
    rank = {n: i for i, n in enumerate(identities)}
    ordered = sorted(instances, key=lambda it: (rank.get(it[0], len(rank)), it[0]))
    masks, group_ids, seen, extra = [], [], set(), len(identities)
    for identity, rle in ordered:
        if identity not in rank:
            log.warning("%s: identity %r is not configured: left out", name, identity)
            continue
        m = M.decode(rle)
        if m.shape != (h, w):
            log.warning(
                "%s: the mask of %s is %dx%d, the image %dx%d: left out",
                name,
                identity,
                m.shape[1],
                m.shape[0],
                w,
                h,
            )
            continue
        if identity in seen:
            extra += 1
            group_ids.append(extra)
        else:
            group_ids.append(rank[identity] + 1)
            seen.add(identity)
        masks.append((identity, m))
    png = folder / f"{name}.png"
    data = write_png(image, png)
    write_labelme(
        folder / f"{name}.json",
        masks,
        image_path=png,
        image_shape=(h, w),
        png=data,
        group_ids=group_ids,
    )


def _write_queue(folder: Path, queue: pd.DataFrame) -> None:
    queue[QUEUE_COLUMNS].to_csv(folder / "queue.csv", index=False)


def _limits(s: dict) -> dict:
    """The thresholds of :func:`check` from the (completed) ``qa`` settings."""
    return {k: s[k] for k in ("max_overlap", "area_ratio", "max_jump", "max_gap")}


def qa_track_table(
    df: pd.DataFrame,
    identities: Sequence[str],
    dest: str | os.PathLike,
    *,
    settings: dict | None,
    n_frames: int | None = None,
    video: str | None = None,
) -> pd.DataFrame:
    """The checks of one track table (one model, one video), written atomically as Parquet.

    Every row counts as present, interpolated ones too. With ``n_frames`` an identity must be in
    every frame ``0 .. n_frames - 1`` (``missing``), else in every frame the table has.
    ``video``: the video's name where the table may be empty (else taken from the table).
    """
    s = settings_of(settings)
    videos = sorted(set(df["video"].astype(str))) if "video" in df.columns and len(df) else []
    if len(videos) > 1 or (video is not None and videos and videos != [video]):
        raise EthoflowError(
            f"{dest}: the track table holds video(s) {videos}"
            + (f", expected {video!r}" if video is not None else ", expected one")
        )
    video = videos[0] if videos else video
    frames = range(int(n_frames)) if n_frames is not None else None
    qa = check(
        df,
        identities,
        **_limits(s),
        frames=frames,
        video=video,
    )
    meta = {
        "settings": {**s, "area_ratio": list(s["area_ratio"])},
        "identities": list(identities),
        "n_frames": n_frames,
        "rows": len(df),
    }
    write(qa, dest, meta)
    log.info("QA of %s: %s", video or dest, summary(qa))
    return qa


def _load_frames(files: Sequence[str], identities: Sequence[str]):
    """Every labelled frame of ``files``, by name: (first loaded frame, [(identity, RLE)]),
    keeping a frame labelled in two files (its identities may then double)."""
    frames: dict[str, tuple] = {}
    for f in sorted(Path(p) for p in files):
        for lf in load_label_file(f, identities):
            if lf.name in frames:
                first, instances = frames[lf.name]
                log.warning(
                    "frame %s is labelled twice: in %s and %s", lf.name, first.source, lf.source
                )
                if lf.image.shape != first.image.shape:
                    log.warning(
                        "%s: frame %s: image of shape %s, %s has %s: its masks are left out",
                        lf.source,
                        lf.name,
                        lf.image.shape,
                        first.source,
                        first.image.shape,
                    )
                    continue
            else:
                frames[lf.name] = (lf, [])
                instances = frames[lf.name][1]
            instances += lf.instances
    return frames


def qa_labels(
    inputs: Sequence[str | os.PathLike],
    identities: Sequence[str],
    table_dest: str | os.PathLike,
    review_dir: str | os.PathLike,
    *,
    settings: dict | None,
) -> pd.DataFrame:
    """The checks of every labelled frame, their table (Parquet) and review queue (folder).

    ``inputs``: label files and folders (as :func:`ethoflow.labels.annotations.resolve_label_inputs`
    takes them). Each labelled frame must hold every identity; area medians are per identity
    and video; jumps are checked between labelled frames of one video at most ``max_gap``
    apart. The review queue holds the ``review_limit`` worst frames (most flags, then name),
    pre-filled with their current masks; both outputs appear only if everything succeeds.
    """
    s = settings_of(settings)
    files = resolve_label_inputs(list(inputs))
    frames = _load_frames(files, identities)
    rows, frame_rows = [], []
    for name, (lf, instances) in frames.items():
        video = lf.video or ""
        frame_rows.append(dict(video=video, frame=lf.frame, name=name))
        for identity, rle in instances:
            rows.append(dict(video=video, frame=lf.frame, name=name, identity=identity, mask=rle))
    # box, centroid and area: check() derives them from the masks
    table = pd.DataFrame(rows, columns=["video", "frame", "name", "identity", "mask"])
    all_frames = pd.DataFrame(frame_rows, columns=["video", "frame", "name"])
    qa = check(
        table,
        identities,
        **_limits(s),
        frames=all_frames,
    )
    queue = worst_first(qa, s["review_limit"])
    meta = {
        "settings": {**s, "area_ratio": list(s["area_ratio"])},
        "identities": list(identities),
        "label_files": len(files),
        "frames": len(frames),
    }
    with contextlib.ExitStack() as stack:
        tmp_table = stack.enter_context(atomic_path(table_dest))
        tmp_dir = stack.enter_context(atomic_dir(review_dir))
        pq.write_table(to_arrow(qa, meta), tmp_table)
        for name in queue["name"]:
            lf, instances = frames[name]
            write_review_frame(tmp_dir, name, lf.image, instances, identities)
        _write_queue(tmp_dir, queue)
    log.info(
        "QA of %d labelled frames (%d label files): %s; %d frames in the review queue %s",
        len(frames),
        len(files),
        summary(qa),
        len(queue),
        review_dir,
    )
    return qa


def review_tracks(
    tracks: str | os.PathLike,
    qa: str | os.PathLike,
    video_path: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    video: str,
    identities: Sequence[str],
    limit: int,
) -> pd.DataFrame:
    """The review queue of one tracker's flagged frames of one video, as a folder.

    Reads the track table ``tracks`` and its QA table ``qa``, takes the ``limit`` worst flagged
    frames (most flags, then frame), decodes them from ``video_path`` and writes
    ``{video}_{frame:06d}.json`` (+ ``.png``) pre-filled with the tracked masks of the frame,
    and ``queue.csv``. The folder is always created (only ``queue.csv`` if nothing is flagged).
    Returns the queue.
    """
    df = tracktable.read(tracks)
    q = read_qa(qa)
    others = sorted(set(q["video"]) - {"", video}) + sorted(set(df["video"]) - {video})
    if others:
        raise EthoflowError(
            f"{qa}, {tracks}: hold video(s) {sorted(set(others))}, expected only {video!r}"
        )
    q = q.assign(name=[frame_name(video, int(f)) for f in q["frame"]], video=video)
    queue = worst_first(q, limit)
    picked = [int(f) for f in queue["frame"]]
    bad = [f for f in picked if f < 0]
    if bad:
        raise EthoflowError(f"{qa}: negative frame numbers {bad[:5]} in a track QA table")
    images = V.read_frames(video_path, picked) if picked else {}
    by_frame = {int(f): g for f, g in df[df["frame"].isin(picked)].groupby("frame")}
    with atomic_dir(out_dir) as tmp:
        for name, f in zip(queue["name"], picked):
            g = by_frame.get(f)
            instances = [] if g is None else list(zip(g["identity"], g["mask"]))
            write_review_frame(tmp, name, images[f], instances, identities)
        _write_queue(tmp, queue)
    log.info(
        "review queue of %s: %d of %d flagged frames -> %s",
        video,
        len(queue),
        q["name"].nunique(),
        out_dir,
    )
    return queue[QUEUE_COLUMNS]
