"""Read SLEAP label files (``.slp``: proofread labels and ``sleap-track`` output alike).

A ``.slp`` is an HDF5 file: the skeletons and tracks as JSON (``metadata``, ``tracks_json``,
``videos_json``) and four tables of records, each row pointing at a slice of the next one:
``frames`` -> ``instances`` -> ``points`` (user instances) / ``pred_points`` (predictions).
The reader uses h5py on those tables directly, so it needs no SLEAP installation.

Identity = track name. A frame can hold a user instance and the predicted instance it was
corrected from (``from_predicted``) or two instances with the same track; ``prefer`` picks
which source is kept. Instances without a track are accepted only when no instance of the
video has a track and no frame holds two animals; the identity is then ``"animal"``.

Coordinates: SLEAP files of format 1.1 and later (the fly clip: 1.1 and 1.2) put (0, 0) at
the centre of the top-left pixel, the convention of every keypoint table
(:mod:`ethoflow.io.keypoints`); their values are kept exactly as stored. Files of format < 1.1
stored the pixel *corner* at (0, 0); like SLEAP itself, the reader subtracts 0.5 from those.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from ethoflow.io.keypoints import (
    SINGLE_ANIMAL,
    KeypointError,
    KeypointSet,
    make_table,
    sort_table,
)

_REQUIRED = ("metadata", "videos_json", "frames", "instances", "points", "pred_points")
# the record fields the reader uses, per table
_FIELDS = {
    "frames": ("video", "frame_idx", "instance_id_start", "instance_id_end"),
    "instances": (
        "instance_id",
        "instance_type",
        "skeleton",
        "track",
        "from_predicted",
        "point_id_start",
        "point_id_end",
    ),
    "points": ("x", "y", "visible"),
    "pred_points": ("x", "y", "visible", "score"),
}
USER, PREDICTED = 0, 1  # instance_type values


# --------------------------------------------------------------------------------------------
# file contents: arrays, skeleton, video reference


def _read_arrays(path: Path) -> dict:
    """The metadata and record tables of a ``.slp``, checked for the datasets and fields the
    reader needs (a file that lacks them is not a SLEAP labels file, or is corrupt)."""
    import h5py

    if not path.is_file():
        raise KeypointError(path, "file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise KeypointError(path, f"not a readable HDF5/SLEAP file ({e})") from None
    with f:
        missing = [k for k in _REQUIRED if k not in f]
        if missing:
            raise KeypointError(path, f"not a SLEAP labels file: missing datasets {missing}")
        try:
            attrs = f["metadata"].attrs
            meta = json.loads(attrs["json"])
            out = dict(
                meta=meta,
                format_id=float(attrs.get("format_id", 1.0)),
                videos=[json.loads(v) for v in f["videos_json"][:]],
                tracks=[json.loads(t) for t in f["tracks_json"][:]] if "tracks_json" in f else [],
                frames=f["frames"][:],
                instances=f["instances"][:],
                points=f["points"][:],
                pred_points=f["pred_points"][:],
            )
        except (OSError, KeyError, ValueError, TypeError) as e:
            raise KeypointError(path, f"corrupt SLEAP file ({type(e).__name__}: {e})") from None
    for name, fields in _FIELDS.items():
        have = out[name].dtype.names or ()
        lacking = [fld for fld in fields if fld not in have]
        if lacking:
            raise KeypointError(path, f"corrupt SLEAP file: dataset {name!r} lacks {lacking}")
    if not isinstance(meta, dict) or "nodes" not in meta or "skeletons" not in meta:
        raise KeypointError(path, "corrupt SLEAP file: metadata has no skeleton")
    return out


def _edge_types(links: list[dict]) -> list[int]:
    """Edge type of each link (1 = body edge, 2 = symmetry). jsonpickle writes the first
    ``EdgeType`` object in full (``py/reduce``) and later ones as ``py/id`` references, numbered
    in order of first appearance."""
    seen: list[int] = []
    types = []
    for link in links:
        t = link.get("type", 1)
        if isinstance(t, dict) and "py/reduce" in t:
            value = int(t["py/reduce"][1]["py/tuple"][0])
            seen.append(value)
        elif isinstance(t, dict) and "py/id" in t:
            k = int(t["py/id"])
            value = seen[k - 1] if 0 < k <= len(seen) else k
        else:
            value = int(t)
        types.append(value)
    return types


def _skeleton(meta: dict, index: int) -> tuple[list[str], list[tuple[str, str]]]:
    """(nodes, body edges) of skeleton number ``index``; symmetry links are not edges."""
    names = [n["name"] for n in meta["nodes"]]
    skel = meta["skeletons"][index]
    ids = [int(n["id"]) for n in skel["nodes"]]
    nodes = [names[i] for i in ids]
    edges = [
        (names[int(link["source"])], names[int(link["target"])])
        for link, t in zip(skel["links"], _edge_types(skel["links"]))
        if t == 1
    ]
    return nodes, edges


def _video_ref(entry: dict) -> tuple[str | None, bool]:
    """(file name as written, embedded?) of one ``videos_json`` entry."""
    backend = entry.get("backend") or {}
    name = entry.get("filename") or backend.get("filename")
    if not name and backend.get("filenames"):
        name = backend["filenames"][0]
    embedded = bool(backend.get("dataset")) and (
        name in (None, ".", "") or bool(backend.get("has_embedded_images"))
    )
    if embedded and isinstance(entry.get("source_video"), dict):
        src, _ = _video_ref(entry["source_video"])
        if src:
            return src, False
    return name, embedded


def _basename(name: str) -> str:
    """The file name of a path written on Windows or POSIX (labels travel between labs)."""
    return PureWindowsPath(name).name if "\\" in name else PurePosixPath(name).name


def _find_video(slp: Path, name: str) -> Path:
    """The video ``name`` (as written in ``slp``): as written (relative to the .slp's folder,
    then the working directory), else a file of that name beside the .slp."""
    written = Path(name)
    candidates = [written] if written.is_absolute() else [slp.parent / written, written]
    candidates.append(slp.parent / _basename(name))
    for c in candidates:
        if c.is_file():
            return c
    raise KeypointError(
        slp,
        f"video {name!r} not found (also looked for {slp.parent / _basename(name)})",
    )


def _video_path(path: Path, entry: dict, video: int, resolve: bool) -> str | None:
    """The video of ``entry`` (video number ``video``): found on disk with ``resolve``, else
    as written."""
    name, embedded = _video_ref(entry)
    if not resolve:
        return name
    if embedded or not name:
        raise KeypointError(
            path, f"video {video} has its frames embedded in the .slp and no source video"
        )
    return str(_find_video(path, name))


# --------------------------------------------------------------------------------------------
# instances: which are kept, and whose they are


def _frame_videos(frames: np.ndarray, videos: list[dict], path: Path) -> np.ndarray:
    """Video index of each labelled frame; legacy files number videos by their embedded
    ``video{N}`` group instead."""
    ids = frames["video"].astype(np.int64)
    if ids.size == 0 or ids.max() < len(videos):
        return ids
    by_group = {}
    for i, v in enumerate(videos):
        m = re.match(r"video(\d+)/", (v.get("backend") or {}).get("dataset") or "")
        if m:
            by_group[int(m[1])] = i
    mapped = np.array([by_group.get(int(i), -1) for i in ids], dtype=np.int64)
    if (mapped < 0).any():
        bad = sorted(set(ids[mapped < 0].tolist()))[:5]
        raise KeypointError(path, f"frames refer to unknown videos {bad} ({len(videos)} videos)")
    return mapped


def _video_instances(path: Path, d: dict, video: int) -> pd.DataFrame:
    """One row per instance of video ``video``: ``row`` (in the instances table), ``frame``,
    ``type``, ``track``, ``iid``, ``from_predicted``, ``skeleton``."""
    frames, inst, tracks = d["frames"], d["instances"], d["tracks"]
    fsel = frames[_frame_videos(frames, d["videos"], path) == video]
    starts = fsel["instance_id_start"].astype(np.int64)
    counts = fsel["instance_id_end"].astype(np.int64) - starts
    if (counts < 0).any() or (starts + counts).max(initial=0) > len(inst):
        raise KeypointError(path, "corrupt SLEAP file: frames point past the instances table")
    rows = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    rows = rows + np.repeat(starts, counts)
    it = inst[rows]
    df = pd.DataFrame(
        {
            "row": rows,
            "frame": np.repeat(fsel["frame_idx"].astype(np.int64), counts),
            "type": it["instance_type"].astype(np.int64),
            "track": it["track"].astype(np.int64),
            "iid": it["instance_id"].astype(np.int64),
            "from_predicted": it["from_predicted"].astype(np.int64),
            "skeleton": it["skeleton"].astype(np.int64),
        }
    )
    if not df["type"].isin([USER, PREDICTED]).all():
        raise KeypointError(path, f"unknown instance types {sorted(set(df['type']) - {0, 1})}")
    bad_track = df[(df["track"] >= len(tracks)) | (df["track"] < -1)]
    if len(bad_track):
        raise KeypointError(
            path,
            f"instances refer to track {int(bad_track['track'].iloc[0])}; "
            f"the file has {len(tracks)} tracks",
        )
    return df


def _video_skeleton(
    path: Path, meta: dict, df: pd.DataFrame, video: int
) -> tuple[list[str], list[tuple[str, str]]]:
    """(nodes, edges) of the one skeleton the instances of the video use."""
    skeletons = sorted(set(df["skeleton"].tolist())) or [0]
    if len(skeletons) > 1:
        raise KeypointError(path, f"video {video} mixes skeletons {skeletons}; not supported")
    try:
        return _skeleton(meta, skeletons[0])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        problem = f"corrupt skeleton in metadata ({type(e).__name__}: {e})"
        raise KeypointError(path, problem) from None


def _drop_corrected(df: pd.DataFrame, keep_user: bool) -> pd.DataFrame:
    """``df`` less one of each user instance and the prediction it was corrected from
    (``from_predicted``): they are the same animal. The kept one takes the other's track when
    it has none."""
    users = df[(df["type"] == USER) & (df["from_predicted"] >= 0)]
    preds = df[df["type"] == PREDICTED]
    pairs = users.merge(
        preds, left_on=["frame", "from_predicted"], right_on=["frame", "iid"], suffixes=("_u", "_p")
    )
    drop = set()
    if len(pairs):
        track_of = df.set_index("row")["track"].to_dict()
        for ru, rp, tu, tp in pairs[["row_u", "row_p", "track_u", "track_p"]].itertuples(
            index=False
        ):
            kept, other = (ru, rp) if keep_user else (rp, ru)
            if track_of[kept] < 0:
                track_of[kept] = tu if tu >= 0 else tp
            drop.add(other)
        df = df.assign(track=df["row"].map(track_of))
    return df[~df["row"].isin(drop)]


def _one_per_animal(path: Path, df: pd.DataFrame, keep_user: bool) -> pd.DataFrame:
    """The instances kept: one per (frame, track), the preferred source winning; untracked
    instances only when none is tracked and no frame holds two."""
    tracked = df[df["track"] >= 0]
    untracked = df[df["track"] < 0]
    pref_type = USER if keep_user else PREDICTED
    if len(tracked) and len(untracked):
        fr = sorted(set(untracked["frame"].tolist()))
        raise KeypointError(
            path,
            f"{len(untracked)} instances in {len(fr)} frames have no track "
            f"(first frames {fr[:5]}); assign tracks in SLEAP",
        )
    key = "track" if len(tracked) else "frame"
    work = tracked if len(tracked) else untracked
    is_pref = work["type"] == pref_type
    has_pref = is_pref.groupby([work["frame"], work["track"]]).transform("any")
    work = work[is_pref | ~has_pref]
    dup = work[work.duplicated(["frame", "track"], keep=False)]
    if len(dup):
        fr = sorted(set(dup["frame"].tolist()))
        what = "instances of the same track" if key == "track" else "untracked instances"
        hint = "fix the tracks in SLEAP" if key == "track" else "run SLEAP's tracker first"
        raise KeypointError(
            path, f"{len(fr)} frames hold several {what} (first frames {fr[:5]}); {hint}"
        )
    return work


def _identities(path: Path, work: pd.DataFrame, tracks: list) -> tuple[dict[int, str], list[str]]:
    """(track -> identity, identities in track order) of the kept instances (all tracked or
    all untracked): the track names, or ``"animal"`` for a single untracked animal."""
    if not (work["track"] >= 0).any():
        return {-1: SINGLE_ANIMAL}, [SINGLE_ANIMAL] if len(work) else []
    track_names = [str(t[1]) if isinstance(t, list) and len(t) > 1 else str(t) for t in tracks]
    used = sorted(set(work["track"].tolist()))
    names = [track_names[t] for t in used]
    if len(set(names)) != len(names):
        raise KeypointError(path, f"several tracks share a name: {names}")
    return {t: track_names[t] for t in used}, names


# --------------------------------------------------------------------------------------------
# points


def _points(path: Path, d: dict, work: pd.DataFrame, k: int) -> tuple[np.ndarray, ...]:
    """(x, y, visible, score), each (instances, k), of the kept instances (user points from
    ``points``, predictions with their scores from ``pred_points``), in the pixel-centre
    convention."""
    it = d["instances"][work["row"].to_numpy()]
    p0 = it["point_id_start"].astype(np.int64)
    npts = it["point_id_end"].astype(np.int64) - p0
    if (npts != k).any():
        j = int(np.flatnonzero(npts != k)[0])
        raise KeypointError(
            path,
            f"instance {int(it['instance_id'][j])} has {int(npts[j])} points; "
            f"the skeleton has {k} nodes",
        )
    is_user = work["type"].to_numpy() == USER
    n = len(work)
    x = np.full((n, k), np.nan)
    y = np.full((n, k), np.nan)
    vis = np.zeros((n, k), dtype=bool)
    score = np.full((n, k), np.nan)
    for mask, name in ((is_user, "points"), (~is_user, "pred_points")):
        if not mask.any():
            continue
        table = d[name]
        idx = p0[mask][:, None] + np.arange(k)[None, :]
        if idx.size and idx.max() >= len(table):
            raise KeypointError(path, f"corrupt SLEAP file: instances point past {name!r}")
        pts = table[idx]
        x[mask], y[mask], vis[mask] = pts["x"], pts["y"], pts["visible"]
        if name == "pred_points":
            score[mask] = pts["score"]
    if d["format_id"] < 1.1:  # legacy: pixel corner at (0, 0)
        x -= 0.5
        y -= 0.5
    return x, y, vis, score


# --------------------------------------------------------------------------------------------
# reader


def read_sleap(
    path: str | os.PathLike,
    *,
    video: int = 0,
    prefer: str = "user",
    resolve_video: bool = True,
) -> KeypointSet:
    """Keypoints of video number ``video`` of a SLEAP ``.slp`` file (user and/or predicted
    instances; proofread labels and ``sleap-track`` output alike).

    ``prefer`` ("user" or "predicted") decides which instance is kept when a frame has both a
    user and a predicted instance of the same animal (same track, or linked by
    ``from_predicted``). With ``resolve_video`` the referenced video must exist: as written
    (relative paths are tried against the .slp's folder, then the working directory), else a
    file of the same name beside the .slp; ``KeypointSet.video`` is the path found. Without it,
    ``video`` is the reference as written.
    """
    if prefer not in ("user", "predicted"):
        raise ValueError(f"prefer must be 'user' or 'predicted', not {prefer!r}")
    path = Path(path)
    d = _read_arrays(path)
    if not 0 <= video < len(d["videos"]):
        raise KeypointError(path, f"has {len(d['videos'])} videos; no video index {video}")
    video_path = _video_path(path, d["videos"][video], video, resolve_video)

    df = _video_instances(path, d, video)
    nodes, edges = _video_skeleton(path, d["meta"], df, video)
    keep_user = prefer == "user"
    work = _one_per_animal(path, _drop_corrected(df, keep_user), keep_user)
    ident_of, identities = _identities(path, work, d["tracks"])

    k, n = len(nodes), len(work)
    x, y, vis, score = _points(path, d, work, k)
    is_user = work["type"].to_numpy() == USER
    table = make_table(
        frame=np.repeat(work["frame"].to_numpy(), k),
        image=None,
        identity=np.repeat(work["track"].map(ident_of).to_numpy(dtype=object), k),
        node=np.tile(np.array(nodes, dtype=object), n),
        x=x.ravel(),
        y=y.ravel(),
        visible=vis.ravel(),
        score=score.ravel(),
        source=np.repeat(np.where(is_user, "user", "predicted").astype(object), k),
    )
    return KeypointSet(
        table=sort_table(table, identities, nodes),
        nodes=nodes,
        edges=edges,
        identities=identities,
        video=video_path,
        format="sleap",
        path=str(path),
    )


__all__ = ["read_sleap"]
