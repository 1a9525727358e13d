"""Import pose keypoints from SLEAP (``.slp``) and DeepLabCut (``CollectedData_*.h5`` / ``.csv``).

Every importer returns a :class:`KeypointSet`: one long table with a row per keypoint per identity
per frame, plus the skeleton (nodes, edges), the identities and the video the labels refer to.

Table columns
    ``frame`` (int64), ``image`` (str or None), ``identity`` (str), ``node`` (str), ``x``, ``y``
    (float64, NaN when the point is not visible), ``visible`` (bool), ``score`` (float64, NaN for
    user labels; the per-point confidence for predictions, DeepLabCut's ``likelihood``),
    ``source`` (``"user"`` or ``"predicted"``). Rows are sorted by frame, then identity (in the
    order of :attr:`KeypointSet.identities`), then node (skeleton order). An instance is present
    in a frame when it has rows there; its invisible points are rows with ``visible`` False.

Coordinates
    Pixel coordinates of the labelled image, x to the right and y down, **with (0, 0) at the
    centre of the top-left pixel** (the top-left corner of the image is (-0.5, -0.5)). This is
    the convention of SLEAP files of format 1.1 and later (the fly clip: 1.1 and 1.2), whose
    values are kept exactly as stored. Files of format < 1.1 stored the pixel *corner* at (0, 0);
    like SLEAP itself, the reader subtracts 0.5 from those so every table uses one convention.
    DeepLabCut labels (napari / matplotlib GUIs, integer coordinate = pixel centre) follow the
    same convention and are kept as stored. DeepLabCut labels live in the frame of the extracted
    image, i.e. after the project's ``video_sets`` crop, if the project crops.

SLEAP
    Identity = track name. A frame can hold a user instance and the predicted instance it was
    corrected from (``from_predicted``) or two instances with the same track; ``prefer`` picks
    which source is kept. Instances without a track are accepted only when no instance of the
    video has a track and no frame holds two animals; the identity is then ``"animal"``.

DeepLabCut
    Single-animal files give identity ``"animal"`` (or the one name passed); multi-animal files
    give the ``individuals``. The ``"single"`` individual of a multi-animal project (its unique
    body parts: objects, not animals) is left out unless asked for. Edges come from the project's
    ``config.yaml`` ``skeleton`` when there is one. An (image, identity) with no labelled point is
    not an instance and gives no rows.

Keypoint tables are stored as Parquet with the metadata as JSON in the schema metadata
(:func:`write_keypoints` / :func:`load_keypoints`).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np
import pandas as pd

from ethoflow.io.files import EthoflowError, atomic_path

log = logging.getLogger(__name__)

COLUMNS = ["frame", "image", "identity", "node", "x", "y", "visible", "score", "source"]
SINGLE_ANIMAL = "animal"  # identity of a single, untracked animal
DLC_UNIQUE = "single"  # DeepLabCut's pseudo-individual holding a project's unique body parts
_META_KEY = b"ethoflow.keypoints"
_SLP_REQUIRED = ("metadata", "videos_json", "frames", "instances", "points", "pred_points")


class KeypointError(EthoflowError):
    """A keypoint label file that cannot be read; the message is ``"<file>: <problem>"``."""

    def __init__(self, path: str | os.PathLike, problem: str | None = None):
        if problem is None:  # unpickling passes the whole message back
            super().__init__(str(path))
            self.path, self.problem = None, str(path)
        else:
            super().__init__(f"{path}: {problem}")
            self.path, self.problem = str(path), problem


@dataclass
class KeypointSet:
    """Keypoints of one label file as a long table (see the module docstring for the columns)."""

    table: pd.DataFrame
    nodes: list[str]
    edges: list[tuple[str, str]]
    identities: list[str]
    video: str | None
    format: str  # "sleap" | "dlc"
    path: str

    @property
    def frames(self) -> list[int]:
        """The labelled frames, ascending."""
        return sorted(int(f) for f in self.table["frame"].unique())


# --------------------------------------------------------------------------------------------
# table helpers


def _make_table(frame, image, identity, node, x, y, visible, score, source) -> pd.DataFrame:
    """The keypoint table with its canonical dtypes (the one constructor every reader uses)."""
    n = len(frame)
    if image is None:
        image = np.full(n, None, dtype=object)
    else:
        image = np.array([v if isinstance(v, str) else None for v in image], dtype=object)
    x = np.asarray(x, dtype=np.float64).copy()
    y = np.asarray(y, dtype=np.float64).copy()
    visible = np.asarray(visible, dtype=bool) & np.isfinite(x) & np.isfinite(y)
    x[~visible] = np.nan
    y[~visible] = np.nan
    df = pd.DataFrame(
        {
            "frame": np.asarray(frame, dtype=np.int64),
            "image": image,
            "identity": pd.Series(identity, dtype=object).astype(str).to_numpy(),
            "node": pd.Series(node, dtype=object).astype(str).to_numpy(),
            "x": x,
            "y": y,
            "visible": visible,
            "score": np.asarray(score, dtype=np.float64),
            "source": pd.Series(source, dtype=object).astype(str).to_numpy(),
        }
    ).astype({"identity": str, "node": str, "source": str})
    df["image"] = pd.Series(image, index=df.index, dtype=object)
    return df


def _sorted(table: pd.DataFrame, identities: list[str], nodes: list[str]) -> pd.DataFrame:
    order = np.lexsort(
        (
            table["node"].map({n: i for i, n in enumerate(nodes)}).to_numpy(),
            table["identity"].map({n: i for i, n in enumerate(identities)}).to_numpy(),
            table["frame"].to_numpy(),
        )
    )
    return table.iloc[order].reset_index(drop=True)


def centroids(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (frame, identity) with a visible point: ``cx``, ``cy`` (mean of the visible
    points, pixel coordinates as in the table) and ``n_visible``; sorted by frame, then identity
    in order of first appearance."""
    vis = table[table["visible"].astype(bool)]
    out = (
        vis.groupby(["frame", "identity"], sort=False)
        .agg(cx=("x", "mean"), cy=("y", "mean"), n_visible=("x", "size"))
        .reset_index()
    )
    rank = {name: i for i, name in enumerate(pd.unique(table["identity"]))}
    out = out.iloc[np.lexsort((out["identity"].map(rank).to_numpy(), out["frame"].to_numpy()))]
    out = out.reset_index(drop=True)
    return out.astype({"frame": np.int64, "n_visible": np.int64, "cx": float, "cy": float})


def rename_identities(ks: KeypointSet, mapping: dict[str, str]) -> KeypointSet:
    """A copy of ``ks`` with identities renamed (names not in ``mapping`` stay). Unknown names in
    ``mapping`` and renames that would merge two identities raise :class:`KeypointError`."""
    unknown = [k for k in mapping if k not in ks.identities]
    if unknown:
        raise KeypointError(
            ks.path, f"cannot rename unknown identities {unknown}; it has {ks.identities}"
        )
    new = [mapping.get(i, i) for i in ks.identities]
    if len(set(new)) != len(new):
        raise KeypointError(ks.path, f"renaming {mapping} would merge identities: {new}")
    table = ks.table.copy()
    table["identity"] = table["identity"].map(lambda i: mapping.get(i, i)).astype(str)
    return dataclasses.replace(ks, table=table, identities=new)


# --------------------------------------------------------------------------------------------
# SLEAP


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


def _slp_skeleton(meta: dict, index: int) -> tuple[list[str], list[tuple[str, str]]]:
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
    return PureWindowsPath(name).name if "\\" in name else PurePosixPath(name).name


def _resolve_video(slp: Path, name: str) -> Path:
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


def _read_slp_arrays(path: Path) -> dict:
    import h5py

    if not path.is_file():
        raise KeypointError(path, "file not found")
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        raise KeypointError(path, f"not a readable HDF5/SLEAP file ({e})") from None
    with f:
        missing = [k for k in _SLP_REQUIRED if k not in f]
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
    need = {
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
    for name, fields in need.items():
        have = out[name].dtype.names or ()
        lacking = [fld for fld in fields if fld not in have]
        if lacking:
            raise KeypointError(path, f"corrupt SLEAP file: dataset {name!r} lacks {lacking}")
    if not isinstance(meta, dict) or "nodes" not in meta or "skeletons" not in meta:
        raise KeypointError(path, "corrupt SLEAP file: metadata has no skeleton")
    return out


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
    d = _read_slp_arrays(path)
    videos, tracks, frames, inst = d["videos"], d["tracks"], d["frames"], d["instances"]
    if not 0 <= video < len(videos):
        raise KeypointError(path, f"has {len(videos)} videos; no video index {video}")

    # video reference
    name, embedded = _video_ref(videos[video])
    video_path: str | None = name
    if resolve_video:
        if embedded or not name:
            raise KeypointError(
                path, f"video {video} has its frames embedded in the .slp and no source video"
            )
        video_path = str(_resolve_video(path, name))

    # instances of the chosen video
    fsel = frames[_frame_videos(frames, videos, path) == video]
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
    if not df["type"].isin([0, 1]).all():
        raise KeypointError(path, f"unknown instance types {sorted(set(df['type']) - {0, 1})}")
    bad_track = df[(df["track"] >= len(tracks)) | (df["track"] < -1)]
    if len(bad_track):
        raise KeypointError(
            path,
            f"instances refer to track {int(bad_track['track'].iloc[0])}; "
            f"the file has {len(tracks)} tracks",
        )
    skeletons = sorted(set(df["skeleton"].tolist())) or [0]
    if len(skeletons) > 1:
        raise KeypointError(path, f"video {video} mixes skeletons {skeletons}; not supported")
    try:
        nodes, edges = _slp_skeleton(d["meta"], skeletons[0])
    except (KeyError, IndexError, TypeError, ValueError) as e:
        problem = f"corrupt skeleton in metadata ({type(e).__name__}: {e})"
        raise KeypointError(path, problem) from None

    track_names = [str(t[1]) if isinstance(t, list) and len(t) > 1 else str(t) for t in tracks]
    keep_user = prefer == "user"

    # a user instance and the prediction it was corrected from are the same animal
    users = df[(df["type"] == 0) & (df["from_predicted"] >= 0)]
    preds = df[df["type"] == 1]
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
        df["track"] = df["row"].map(track_of)
    df = df[~df["row"].isin(drop)]

    # one instance per (frame, track): the preferred source wins
    tracked = df[df["track"] >= 0]
    untracked = df[df["track"] < 0]
    pref_type = 0 if keep_user else 1
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
    if len(tracked):
        used = sorted(set(work["track"].tolist()))
        names = [track_names[t] for t in used]
        if len(set(names)) != len(names):
            raise KeypointError(path, f"several tracks share a name: {names}")
        ident_of = {t: track_names[t] for t in used}
        identities = names
    else:
        ident_of = {-1: SINGLE_ANIMAL}
        identities = [SINGLE_ANIMAL] if len(work) else []

    # points
    k = len(nodes)
    it = inst[work["row"].to_numpy()]
    p0 = it["point_id_start"].astype(np.int64)
    npts = it["point_id_end"].astype(np.int64) - p0
    if (npts != k).any():
        j = int(np.flatnonzero(npts != k)[0])
        raise KeypointError(
            path,
            f"instance {int(it['instance_id'][j])} has {int(npts[j])} points; "
            f"the skeleton has {k} nodes",
        )
    is_user = work["type"].to_numpy() == 0
    n = len(work)
    x = np.full((n, k), np.nan)
    y = np.full((n, k), np.nan)
    vis = np.zeros((n, k), dtype=bool)
    score = np.full((n, k), np.nan)
    for mask, table, with_score in (
        (is_user, d["points"], False),
        (~is_user, d["pred_points"], True),
    ):
        if not mask.any():
            continue
        idx = p0[mask][:, None] + np.arange(k)[None, :]
        if idx.size and idx.max() >= len(table):
            which = "points" if not with_score else "pred_points"
            raise KeypointError(path, f"corrupt SLEAP file: instances point past {which!r}")
        pts = table[idx]
        x[mask], y[mask], vis[mask] = pts["x"], pts["y"], pts["visible"]
        if with_score:
            score[mask] = pts["score"]
    if d["format_id"] < 1.1:  # legacy: pixel corner at (0, 0)
        x -= 0.5
        y -= 0.5

    table = _make_table(
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
        table=_sorted(table, identities, nodes),
        nodes=nodes,
        edges=edges,
        identities=identities,
        video=video_path,
        format="sleap",
        path=str(path),
    )


# --------------------------------------------------------------------------------------------
# DeepLabCut

_LEVELS3 = ["scorer", "bodyparts", "coords"]
_LEVELS4 = ["scorer", "individuals", "bodyparts", "coords"]


def _dlc_read_h5(path: Path) -> pd.DataFrame:
    try:
        try:
            df = pd.read_hdf(path)
        except ValueError as e:  # several objects in the file: DLC's key
            if "key" not in str(e):
                raise
            df = pd.read_hdf(path, "df_with_missing")
    except Exception as e:  # PyTables/HDF5 raise many types for files that are not DLC tables
        raise KeypointError(
            path, f"not a readable DeepLabCut .h5 label table ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(df, pd.DataFrame):
        raise KeypointError(path, "not a DeepLabCut label table (no DataFrame inside)")
    return df


def _dlc_read_csv(path: Path) -> pd.DataFrame:
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise KeypointError(path, f"cannot read CSV ({e})") from None
    if not rows:
        raise KeypointError(path, "empty file")
    first = [r[0].strip().lower() if r else "" for r in rows[:4]]
    if first[:3] == _LEVELS3:
        levels = _LEVELS3
    elif first[:4] == _LEVELS4:
        levels = _LEVELS4
    else:
        raise KeypointError(
            path,
            "not a DeepLabCut label CSV: the first column of the header rows must read "
            f"{'/'.join(_LEVELS3)} or {'/'.join(_LEVELS4)}, found {'/'.join(first)}",
        )
    header = rows[: len(levels)]
    # index columns: "scorer" then empty cells (3 for labeled-data/<video>/<image> layouts)
    n_index = 1
    while n_index < len(header[0]) and not header[0][n_index].strip():
        n_index += 1
    width = len(header[0])
    if width <= n_index or any(len(r) != width for r in header):
        raise KeypointError(path, "garbled header: header rows differ in length or hold no data")
    for lvl, r in zip(levels, header):
        if any(c.strip() for c in r[1:n_index]) or any(not c.strip() for c in r[n_index:]):
            raise KeypointError(path, f"garbled header: row {lvl!r} has misplaced or empty cells")
    columns = pd.MultiIndex.from_arrays(
        [[c.strip() for c in r[n_index:]] for r in header], names=levels
    )
    index, values = [], []
    for lineno, r in enumerate(rows[len(levels) :], start=len(levels) + 1):
        if len(r) != width:
            raise KeypointError(path, f"row {lineno} has {len(r)} cells; the header has {width}")
        parts = [c.strip() for c in r[:n_index] if c.strip()]
        index.append("/".join(parts))
        try:
            values.append([float(c) if c.strip() else np.nan for c in r[n_index:]])
        except ValueError:
            raise KeypointError(path, f"row {lineno}: a coordinate is not a number") from None
    return pd.DataFrame(
        np.array(values, dtype=np.float64).reshape(-1, width - n_index),
        index=index,
        columns=columns,
    )


def _dlc_edges(root: Path, nodes: list[str]) -> list[tuple[str, str]]:
    cfg = root / "config.yaml"
    if not cfg.is_file():
        return []
    try:
        import yaml

        skeleton = (yaml.safe_load(cfg.read_text()) or {}).get("skeleton") or []
        edges = [(str(a), str(b)) for a, b in skeleton]
    except Exception as e:  # a broken config must not stop the labels from loading
        log.warning("%s: skeleton not read (%s)", cfg, e)
        return []
    return [(a, b) for a, b in edges if a in nodes and b in nodes]


def _frame_numbers(images: list[str]) -> np.ndarray:
    nums = []
    for img in images:
        found = re.findall(r"\d+", PurePosixPath(img).stem)
        nums.append(int(found[-1]) if found else None)
    if None in nums or len(set(nums)) != len(nums):
        return np.arange(len(images), dtype=np.int64)
    return np.array(nums, dtype=np.int64)


def read_dlc(path: str | os.PathLike, *, identities: list[str] | None = None) -> KeypointSet:
    """Keypoints of a DeepLabCut label table (``CollectedData_<scorer>.h5`` or ``.csv``).

    Single-animal: the identity is ``"animal"``, or ``identities[0]`` when one name is given.
    Multi-animal: the ``individuals``, or only those named in ``identities`` (in that order).
    ``image`` is the image path relative to the project (``labeled-data/<video>/imgNNNN.png``)
    and must exist under the project root (two folders above the label file). ``frame`` is the
    number in the image name (``img0042.png`` -> 42), or the row number when names carry no
    unique number. A table with ``likelihood`` columns (machine labels, analysis output) gives
    ``source="predicted"`` and ``score`` = likelihood; an integer index there is the frame.
    """
    path = Path(path)
    if not path.is_file():
        raise KeypointError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".h5":
        wide = _dlc_read_h5(path)
    elif suffix == ".csv":
        wide = _dlc_read_csv(path)
    else:
        raise KeypointError(path, f"not a DeepLabCut label file (suffix {suffix!r})")

    cols = wide.columns
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels not in (3, 4):
        raise KeypointError(path, "not a DeepLabCut label table (expected 3 or 4 header levels)")
    multi = cols.nlevels == 4
    coords = cols.get_level_values(-1).astype(str)
    if not set(coords) <= {"x", "y", "likelihood"}:
        bad = sorted(set(coords) - {"x", "y", "likelihood"})
        raise KeypointError(path, f"garbled header: unknown coords {bad}")
    inds = cols.get_level_values(1).astype(str) if multi else pd.Index([""] * len(cols))
    parts = cols.get_level_values(-2).astype(str)
    keyed: dict[tuple[str, str], dict[str, int]] = {}
    for j, (ind, bp, c) in enumerate(zip(inds, parts, coords)):
        slot = keyed.setdefault((ind, bp), {})
        if c in slot:
            raise KeypointError(path, f"column {c!r} of {bp!r} appears twice")
        slot[c] = j
    for (ind, bp), slot in keyed.items():
        if "x" not in slot or "y" not in slot:
            who = f"{ind}/{bp}" if multi else bp
            raise KeypointError(path, f"garbled header: {who!r} lacks an x or y column")
    predicted = "likelihood" in set(coords)

    nodes = list(dict.fromkeys(parts))
    file_inds = list(dict.fromkeys(inds))
    if multi:
        if identities is None:
            chosen = [i for i in file_inds if i != DLC_UNIQUE] or file_inds
        else:
            unknown = [i for i in identities if i not in file_inds]
            if unknown:
                raise KeypointError(path, f"no individuals {unknown}; it has {file_inds}")
            chosen = list(identities)
        names = {i: i for i in chosen}
    else:
        if identities is not None and len(identities) != 1:
            raise KeypointError(
                path, f"single-animal file: give one identity, not {list(identities)}"
            )
        chosen = [""]
        names = {"": identities[0] if identities else SINGLE_ANIMAL}

    # rows: image paths (or frame numbers in analysis output)
    idx = wide.index
    if isinstance(idx, pd.MultiIndex):
        labels = ["/".join(str(p) for p in t if str(p) not in ("", "nan")) for t in idx]
    else:
        labels = [str(v) for v in idx]
    if predicted and pd.api.types.is_integer_dtype(idx.dtype):
        images: list[str | None] = [None] * len(labels)
        frame_no = np.asarray(idx, dtype=np.int64)
    else:
        images = [lab.replace("\\", "/") for lab in labels]
        frame_no = _frame_numbers(images)
        root = path.parent.parent.parent
        missing = [img for img in dict.fromkeys(images) if not (root / img).is_file()]
        if missing:
            raise KeypointError(
                path,
                f"{len(missing)} labelled images missing under {root}: "
                + ", ".join(missing[:3])
                + (" ..." if len(missing) > 3 else ""),
            )

    vals = wide.to_numpy(dtype=np.float64)
    parts_out: list[pd.DataFrame] = []
    n_rows = len(labels)
    for ind in chosen:
        bps = [bp for bp in nodes if (ind, bp) in keyed]
        if not bps:
            continue
        xs = np.stack([vals[:, keyed[(ind, bp)]["x"]] for bp in bps], axis=1)
        ys = np.stack([vals[:, keyed[(ind, bp)]["y"]] for bp in bps], axis=1)
        if predicted:
            sc = np.stack(
                [
                    vals[:, keyed[(ind, bp)]["likelihood"]]
                    if "likelihood" in keyed[(ind, bp)]
                    else np.full(n_rows, np.nan)
                    for bp in bps
                ],
                axis=1,
            )
        else:
            sc = np.full(xs.shape, np.nan)
        vis = np.isfinite(xs) & np.isfinite(ys)
        present = vis.any(axis=1)  # an (image, identity) without any point is no instance
        r = np.flatnonzero(present)
        k = len(bps)
        parts_out.append(
            _make_table(
                frame=np.repeat(frame_no[r], k),
                image=[images[i] for i in r for _ in range(k)],
                identity=[names[ind]] * (len(r) * k),
                node=bps * len(r),
                x=xs[r].ravel(),
                y=ys[r].ravel(),
                visible=vis[r].ravel(),
                score=sc[r].ravel(),
                source=["predicted" if predicted else "user"] * (len(r) * k),
            )
        )
    ids = [names[i] for i in chosen]
    if parts_out:
        table = pd.concat(parts_out, ignore_index=True)
    else:
        table = _make_table(*([[]] * 9))
    used_nodes = [bp for bp in nodes if any((ind, bp) in keyed for ind in chosen)]
    root = path.parent.parent.parent
    return KeypointSet(
        table=_sorted(table, ids, used_nodes),
        nodes=used_nodes,
        edges=_dlc_edges(root, used_nodes),
        identities=ids,
        video=None,
        format="dlc",
        path=str(path),
    )


# --------------------------------------------------------------------------------------------
# dispatch and storage


def read_keypoints(path: str | os.PathLike, **kw) -> KeypointSet:
    """Read a SLEAP ``.slp`` or DeepLabCut ``.h5`` / ``.csv`` label file (by suffix); keyword
    arguments go to :func:`read_sleap` or :func:`read_dlc`."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".slp":
        return read_sleap(path, **kw)
    if suffix in (".h5", ".csv"):
        return read_dlc(path, **kw)
    raise KeypointError(
        path, f"unknown keypoint file type {suffix or '(no suffix)'!r}; expected .slp, .h5 or .csv"
    )


def _meta(ks: KeypointSet) -> dict:
    return {
        "nodes": list(ks.nodes),
        "edges": [list(e) for e in ks.edges],
        "identities": list(ks.identities),
        "video": ks.video,
        "format": ks.format,
        "path": ks.path,
    }


def write_keypoints(ks: KeypointSet, dest: str | os.PathLike) -> None:
    """Write ``ks`` to a Parquet file (atomically); the metadata goes into the schema metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = ks.table
    missing = [c for c in COLUMNS if c not in t.columns]
    if missing:
        raise KeypointError(ks.path, f"keypoint table lacks columns {missing}")
    image = [v if isinstance(v, str) else None for v in t["image"]]
    table = pa.table(
        {
            "frame": pa.array(t["frame"].to_numpy(dtype=np.int64), pa.int64()),
            "image": pa.array(image, pa.string()),
            "identity": pa.array(t["identity"].astype(str).tolist(), pa.string()),
            "node": pa.array(t["node"].astype(str).tolist(), pa.string()),
            "x": pa.array(t["x"].to_numpy(dtype=np.float64), pa.float64()),
            "y": pa.array(t["y"].to_numpy(dtype=np.float64), pa.float64()),
            "visible": pa.array(t["visible"].to_numpy(dtype=bool), pa.bool_()),
            "score": pa.array(t["score"].to_numpy(dtype=np.float64), pa.float64()),
            "source": pa.array(t["source"].astype(str).tolist(), pa.string()),
        }
    )
    table = table.replace_schema_metadata({_META_KEY: json.dumps(_meta(ks)).encode()})
    with atomic_path(dest, suffix=".parquet") as tmp:
        pq.write_table(table, tmp)


def load_keypoints(path: str | os.PathLike) -> KeypointSet:
    """Read a keypoint table written by :func:`write_keypoints`."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise KeypointError(path, "file not found")
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as e:
        raise KeypointError(path, f"not a readable Parquet file ({e})") from None
    raw = (table.schema.metadata or {}).get(_META_KEY)
    if raw is None:
        raise KeypointError(path, "not an ethoflow keypoint table (no keypoint metadata)")
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise KeypointError(path, f"keypoint table lacks columns {missing}")
    try:
        meta = json.loads(raw)
        nodes, edges = list(meta["nodes"]), [tuple(e) for e in meta["edges"]]
        identities, video = list(meta["identities"]), meta["video"]
        fmt, source_path = meta["format"], meta["path"]
    except (ValueError, KeyError, TypeError) as e:
        raise KeypointError(path, f"corrupt keypoint metadata ({e})") from None
    cols = {c: table.column(c).to_pylist() for c in ("image", "identity", "node", "source")}
    df = _make_table(
        frame=table.column("frame").to_numpy(),
        image=cols["image"],
        identity=cols["identity"],
        node=cols["node"],
        x=table.column("x").to_numpy(),
        y=table.column("y").to_numpy(),
        visible=table.column("visible").to_numpy(zero_copy_only=False),
        score=table.column("score").to_numpy(),
        source=cols["source"],
    )
    return KeypointSet(df, nodes, edges, identities, video, fmt, source_path)


# --------------------------------------------------------------------------------------------
# into the workflow: identities, working-copy coordinates, truth and other trackers' tables


def check_identities(ks: KeypointSet, identities: list[str]) -> KeypointSet:
    """``ks`` with identities that are all among the configured ``identities`` (each animal is a
    class of the models). A single untracked animal (``"animal"``) takes the one configured
    identity when there is exactly one; any other name that is not configured is an error
    naming the file, the names and the configured ones."""
    if ks.identities == [SINGLE_ANIMAL] and len(identities) == 1:
        return rename_identities(ks, {SINGLE_ANIMAL: identities[0]})
    extra = [i for i in ks.identities if i not in identities]
    if extra:
        raise KeypointError(
            ks.path,
            f"labels name identities {extra} that are not among the configured identities "
            f"{list(identities)} (set `identities` in the config to the tracks' names)",
        )
    return ks


def resolve_images(ks: KeypointSet) -> KeypointSet:
    """``ks`` with its ``image`` paths made absolute (DeepLabCut: relative to the project root,
    two folders above the ``CollectedData`` file)."""
    if ks.table["image"].isna().all():
        return ks
    root = Path(ks.path).resolve().parents[2]
    table = ks.table.copy()
    table["image"] = [
        (
            str(root / Path(*PurePosixPath(v.replace("\\", "/")).parts))
            if isinstance(v, str)
            else None
        )
        for v in table["image"]
    ]
    return dataclasses.replace(ks, table=table)


def transform(
    ks: KeypointSet, downscale: float = 1.0, clip: list[int] | tuple[int, int] | None = None
) -> KeypointSet:
    """The keypoints in the coordinates of a working copy of the video
    (:func:`ethoflow.video.prepare`): only frames ``start <= f < stop``, renumbered from 0, and
    coordinates shrunk by ``downscale`` (pixel-centre convention kept:
    ``x' = (x + 0.5) / downscale - 0.5``). Labels on images rather than video frames
    (DeepLabCut) cannot be cut or shrunk with the video: that is an error."""
    downscale = float(downscale or 1.0)
    if downscale == 1.0 and not clip:
        return ks
    if ks.table["image"].notna().any():
        raise KeypointError(
            ks.path,
            "labels on extracted images cannot be cut (clip) or shrunk (downscale) with the "
            "video; the models resize images themselves (model_settings.*.network)",
        )
    table = ks.table.copy()
    if clip:
        start, stop = int(clip[0]), int(clip[1])
        table = table[(table["frame"] >= start) & (table["frame"] < stop)].copy()
        table["frame"] = table["frame"] - start
        if table.empty:
            raise KeypointError(ks.path, f"no labelled frame in the clip [{start}, {stop})")
    if downscale != 1.0:
        table["x"] = (table["x"] + 0.5) / downscale - 0.5
        table["y"] = (table["y"] + 0.5) / downscale - 0.5
    return dataclasses.replace(ks, table=table.reset_index(drop=True))


def _track_rows(ks: KeypointSet, video: str, model: str, source: str) -> pd.DataFrame:
    """Track-table rows (no masks) from keypoints: the centroid of the visible points, in the
    track table's continuous coordinates (pixel ``i`` spans ``[i, i + 1)``: keypoint + 0.5), the
    box around the visible points, and the mean point score (1 for user labels)."""
    vis = ks.table[ks.table["visible"].astype(bool)]
    if vis.empty:
        raise KeypointError(ks.path, "no visible keypoint in the labels")
    g = vis.groupby(["frame", "identity"], sort=True)
    agg = g.agg(
        cx=("x", "mean"),
        cy=("y", "mean"),
        x1=("x", "min"),
        y1=("y", "min"),
        x2=("x", "max"),
        y2=("y", "max"),
        score=("score", "mean"),
    ).reset_index()
    for c in ("cx", "cy", "x1", "y1"):
        agg[c] = agg[c] + 0.5
    for c in ("x2", "y2"):
        agg[c] = agg[c] + 1.5
    agg["score"] = agg["score"].fillna(1.0)
    agg["video"] = video
    agg["model"] = model
    agg["time_s"] = np.nan
    agg["area"] = 0
    agg["mask"] = None
    agg["source"] = source
    return agg


def truth_table(ks: KeypointSet, video: str) -> pd.DataFrame:
    """A truth track table of the labels: one row per identity per labelled frame at the
    centroid of its visible keypoints (no masks: score it with ``match="centroid"``)."""
    return _track_rows(ks, video, "truth", "truth")


def compare_table(
    path: str | os.PathLike,
    video: str,
    tracker: str,
    downscale: float = 1.0,
    clip: list[int] | tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Another tracker's output as a track table: a SLEAP/DeepLabCut prediction file (centroids
    of its keypoints, predicted instances preferred, cut and shrunk like the video) or an
    existing track table (``.parquet``, taken as it is)."""
    path = Path(path)
    if path.suffix.lower() == ".parquet":
        from ethoflow.io import tracktable

        df = tracktable.read(path)
        df["video"], df["model"] = video, tracker
        return df
    kw = {"prefer": "predicted"} if path.suffix.lower() == ".slp" else {}
    ks = transform(read_keypoints(path, **kw), downscale=downscale, clip=clip)
    return _track_rows(ks, video, tracker, "detected")


__all__ = [
    "KeypointError",
    "KeypointSet",
    "centroids",
    "check_identities",
    "compare_table",
    "resolve_images",
    "transform",
    "truth_table",
    "load_keypoints",
    "read_dlc",
    "read_keypoints",
    "read_sleap",
    "rename_identities",
    "write_keypoints",
]
