"""Keypoint tables: pose labels of SLEAP and DeepLabCut in one long table.

Every reader returns a :class:`KeypointSet`: one long table with a row per keypoint per identity
per frame, plus the skeleton (nodes, edges), the identities and the video the labels refer to.
:func:`read_keypoints` picks the reader by file type: :func:`ethoflow.io.sleap.read_sleap`
(``.slp``) or :func:`ethoflow.io.dlc.read_dlc` (``CollectedData_*.h5`` / ``.csv``); each
module's docstring says how its format maps onto the table.

Table columns
    ``frame`` (int64), ``image`` (str or None), ``identity`` (str), ``node`` (str), ``x``, ``y``
    (float64, NaN when the point is not visible), ``visible`` (bool), ``score`` (float64, NaN for
    user labels; the per-point confidence for predictions, DeepLabCut's ``likelihood``),
    ``source`` (``"user"`` or ``"predicted"``). Rows are sorted by frame, then identity (in the
    order of :attr:`KeypointSet.identities`), then node (skeleton order). An instance is present
    in a frame when it has rows there; its invisible points are rows with ``visible`` False.
    Every reader builds its table with :func:`make_table` and orders it with
    :func:`sort_table`, so the dtypes and the order are the same whatever the source.

Coordinates
    Pixel coordinates of the labelled image, x to the right and y down, **with (0, 0) at the
    centre of the top-left pixel** (the top-left corner of the image is (-0.5, -0.5)). Readers
    convert files that use another convention, so every table uses this one.

Keypoint tables are stored as Parquet with the metadata as JSON in the schema metadata
(:func:`write_keypoints` / :func:`load_keypoints`).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ethoflow.io.files import EthoflowError, atomic_path

COLUMNS = ["frame", "image", "identity", "node", "x", "y", "visible", "score", "source"]
SINGLE_ANIMAL = "animal"  # identity of a single, untracked animal
_META_KEY = b"ethoflow.keypoints"


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


def make_table(frame, image, identity, node, x, y, visible, score, source) -> pd.DataFrame:
    """The keypoint table with its canonical dtypes (the one constructor every reader uses).
    Points with a non-finite coordinate are invisible, and invisible points get NaN
    coordinates, whatever the file said."""
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


def sort_table(table: pd.DataFrame, identities: list[str], nodes: list[str]) -> pd.DataFrame:
    """``table`` in the canonical row order: by frame, then identity (in the order of
    ``identities``), then node (in the order of ``nodes``)."""
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
# dispatch and storage


def read_keypoints(path: str | os.PathLike, **kw) -> KeypointSet:
    """Read a SLEAP ``.slp`` or DeepLabCut ``.h5`` / ``.csv`` label file (by suffix); keyword
    arguments go to :func:`ethoflow.io.sleap.read_sleap` or :func:`ethoflow.io.dlc.read_dlc`."""
    path = Path(path)
    suffix = path.suffix.lower()
    # the readers import this module (KeypointSet, make_table): imported here, not at the top
    if suffix == ".slp":
        from ethoflow.io.sleap import read_sleap

        return read_sleap(path, **kw)
    if suffix in (".h5", ".csv"):
        from ethoflow.io.dlc import read_dlc

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
    df = make_table(
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
    (:func:`ethoflow.io.video.prepare`): only frames ``start <= f < stop``, renumbered from 0, and
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
    "COLUMNS",
    "SINGLE_ANIMAL",
    "KeypointError",
    "KeypointSet",
    "centroids",
    "check_identities",
    "compare_table",
    "load_keypoints",
    "make_table",
    "read_keypoints",
    "rename_identities",
    "resolve_images",
    "sort_table",
    "transform",
    "truth_table",
    "write_keypoints",
]
