"""Track tables out to the files other tools read (one writer per format).

- :func:`write_mot`: MOTChallenge text (``gt.txt`` / results layout), one line per identity per
  frame: ``frame,id,bb_left,bb_top,bb_width,bb_height,score,-1,-1,-1`` with 1-based frames,
  ids (the identity's place in the project's ``identities`` + 1, so an id means the same animal
  in every video) and pixel coordinates (MATLAB's convention: the top-left pixel is (1, 1)).
  That ecosystem's readers (``motmetrics.io.loadtxt``, TrackEval) load it.
- :func:`write_annolid`: Annolid's tracking CSV (``frame_number`` 0-based, ``x1 y1 x2 y2``,
  ``cx cy``, ``instance_name``, ``class_score``, ``segmentation`` as a COCO RLE dict,
  ``tracking_id``).
- :func:`write_dlc_pose`: a DeepLabCut multi-animal pose table (``.h5``, key
  ``df_with_missing``; columns scorer / individuals / bodyparts / coords ``x y likelihood``; one
  row per frame), with the mask centroid as body part ``centroid`` and, where a keypoint table
  is given, its nodes on the frames that have them. DeepLabCut (``pandas.read_hdf``) and the
  ``movement`` package load it; frames where an animal is absent are NaN.

Rows without a box (an identity missing in a frame) are left out of the MOT and Annolid files.
Every file is written to a temporary name and renamed.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd

from ethoflow.io.files import EthoflowError, atomic_path

PathLike = str | os.PathLike

MOT_COLUMNS = ["frame", "id", "bb_left", "bb_top", "bb_width", "bb_height", "conf", "x", "y", "z"]
ANNOLID_COLUMNS = [
    "frame_number",
    "x1",
    "y1",
    "x2",
    "y2",
    "cx",
    "cy",
    "instance_name",
    "class_score",
    "segmentation",
    "tracking_id",
]
DLC_KEY = "df_with_missing"


def _ids(tracks: pd.DataFrame, identities: list[str], where: str) -> np.ndarray:
    place = {name: k + 1 for k, name in enumerate(identities)}
    unknown = sorted(set(tracks["identity"]) - set(place))
    if unknown:
        raise EthoflowError(f"{where}: identities {unknown} are not in the project's {identities}")
    return tracks["identity"].map(place).to_numpy(dtype=int)


def _boxed(tracks: pd.DataFrame) -> pd.DataFrame:
    ok = tracks[["x1", "y1", "x2", "y2"]].notna().all(axis=1)
    return tracks[ok].sort_values(["frame", "identity"], kind="stable")


def mot_table(tracks: pd.DataFrame, identities: list[str], where: str = "tracks") -> pd.DataFrame:
    """The MOTChallenge rows of a track table (1-based frames, ids and pixels)."""
    t = _boxed(tracks)
    return pd.DataFrame(
        {
            "frame": t["frame"].to_numpy(dtype=int) + 1,
            "id": _ids(t, identities, where),
            "bb_left": t["x1"].to_numpy(float) + 1,
            "bb_top": t["y1"].to_numpy(float) + 1,
            "bb_width": (t["x2"] - t["x1"]).to_numpy(float),
            "bb_height": (t["y2"] - t["y1"]).to_numpy(float),
            "conf": t["score"].fillna(1.0).to_numpy(float),
            "x": -1,
            "y": -1,
            "z": -1,
        }
    )


def write_mot(tracks: pd.DataFrame, dest: PathLike, identities: list[str]) -> int:
    """MOTChallenge text of ``tracks``; returns the number of lines."""
    rows = mot_table(tracks, identities, str(dest))
    with atomic_path(dest, suffix=".txt") as tmp:
        rows.to_csv(tmp, header=False, index=False, float_format="%.4f")
    return len(rows)


def _rle_text(m) -> str:
    """A mask as Annolid's CSV holds it: the COCO RLE dict as text."""
    if m is None:
        return ""
    return json.dumps({"size": [int(v) for v in m["size"]], "counts": m["counts"]})


def annolid_table(tracks: pd.DataFrame, identities: list[str], where: str = "tracks"):
    """Annolid's tracking CSV rows of a track table."""
    t = _boxed(tracks)
    seg = [
        ""
        if m is None
        else json.dumps({"size": [int(v) for v in m["size"]], "counts": m["counts"]})
        for m in t["mask"]
    ]
    return pd.DataFrame(
        {
            "frame_number": t["frame"].to_numpy(dtype=int),
            "x1": t["x1"].to_numpy(float),
            "y1": t["y1"].to_numpy(float),
            "x2": t["x2"].to_numpy(float),
            "y2": t["y2"].to_numpy(float),
            "cx": t["cx"].to_numpy(float),
            "cy": t["cy"].to_numpy(float),
            "instance_name": t["identity"].astype(str).to_numpy(),
            "class_score": t["score"].fillna(1.0).to_numpy(float),
            "segmentation": seg,
            "tracking_id": _ids(t, identities, where),
        },
        columns=ANNOLID_COLUMNS,
    )


def write_annolid(tracks: pd.DataFrame, dest: PathLike, identities: list[str]) -> int:
    rows = annolid_table(tracks, identities, str(dest))
    with atomic_path(dest, suffix=".csv") as tmp:
        rows.to_csv(tmp, index=False)
    return len(rows)


def dlc_pose_table(
    tracks: pd.DataFrame,
    identities: list[str],
    *,
    n_frames: int | None = None,
    keypoints: pd.DataFrame | None = None,
    scorer: str = "ethoflow",
) -> pd.DataFrame:
    """A DeepLabCut multi-animal table: a row per frame, (scorer, individual, body part, coord)
    columns; the centroid of every identity, and the nodes of ``keypoints`` (the long keypoint
    table: frame, identity, node, x, y, score, visible) where known."""
    frames = tracks["frame"].to_numpy(dtype=int)
    if n_frames is None:
        n_frames = int(frames.max()) + 1 if len(frames) else 0
    if len(frames) and (frames.min() < 0 or frames.max() >= n_frames):
        raise EthoflowError(f"pose export: frames outside 0..{n_frames - 1}")
    _ids(tracks, identities, "pose export")
    nodes: list[str] = []
    if keypoints is not None and len(keypoints):
        nodes = [n for n in dict.fromkeys(keypoints["node"].astype(str)) if n != "centroid"]
    parts = ["centroid", *nodes]
    columns = pd.MultiIndex.from_product(
        [[scorer], identities, parts, ["x", "y", "likelihood"]],
        names=["scorer", "individuals", "bodyparts", "coords"],
    )
    data = np.full((n_frames, len(columns)), np.nan)
    col = {key[1:]: k for k, key in enumerate(columns)}
    ok = tracks["cx"].notna().to_numpy()
    t = tracks[ok]
    f = t["frame"].to_numpy(dtype=int)
    for ident, g in t.groupby("identity", sort=False):
        rows = f[(t["identity"] == ident).to_numpy()]
        data[rows, col[(ident, "centroid", "x")]] = g["cx"].to_numpy(float)
        data[rows, col[(ident, "centroid", "y")]] = g["cy"].to_numpy(float)
        data[rows, col[(ident, "centroid", "likelihood")]] = g["score"].fillna(1.0).to_numpy()
    if nodes:
        k = keypoints[keypoints["identity"].isin(identities)]
        k = k[k["visible"].astype(bool) & (k["frame"] >= 0) & (k["frame"] < n_frames)]
        for (ident, node), g in k.groupby(["identity", "node"], sort=False):
            if node == "centroid":
                continue
            rows = g["frame"].to_numpy(dtype=int)
            data[rows, col[(ident, node, "x")]] = g["x"].to_numpy(float)
            data[rows, col[(ident, node, "y")]] = g["y"].to_numpy(float)
            data[rows, col[(ident, node, "likelihood")]] = g["score"].fillna(1.0).to_numpy()
    return pd.DataFrame(data, columns=columns, index=pd.RangeIndex(n_frames))


def write_dlc_pose(tracks: pd.DataFrame, dest: PathLike, identities: list[str], **kw) -> None:
    """:func:`dlc_pose_table` as DeepLabCut writes its predictions (HDF5, ``df_with_missing``)."""
    table = dlc_pose_table(tracks, identities, **kw)
    with atomic_path(dest, suffix=".h5") as tmp:
        table.to_hdf(tmp, key=DLC_KEY, format="table", mode="w")


FORMATS = {"mot": ".mot.txt", "annolid": ".annolid.csv", "pose": ".pose.h5"}


def export_step(
    fmt: str, tracks: PathLike, dest: PathLike, *, identities, probe=None, keypoints=None
):
    """One track table file -> one export (rules ``export_mot|annolid|pose``); returns rows."""
    import logging

    from ethoflow.io import tracktable
    from ethoflow.io.files import read_json

    log = logging.getLogger(__name__)
    table = tracktable.read(tracks)
    identities = list(identities)
    if fmt == "mot":
        n = write_mot(table, dest, identities)
    elif fmt == "annolid":
        n = write_annolid(table, dest, identities)
    elif fmt == "pose":
        n_frames = int(read_json(probe)["n_frames"]) if probe else None
        kp = None
        if keypoints:
            from ethoflow.io.keypoints import load_keypoints

            kp = load_keypoints(keypoints).table
        scorer = "ethoflow_" + str(table["model"].iloc[0]) if len(table) else "ethoflow"
        write_dlc_pose(table, dest, identities, n_frames=n_frames, keypoints=kp, scorer=scorer)
        n = n_frames if n_frames is not None else int(table["frame"].max()) + 1
    else:
        raise EthoflowError(f"exports: unknown format {fmt!r} (known: {sorted(FORMATS)})")
    log.info("%s: %s export, %d rows -> %s", tracks, fmt, n, dest)
    return n
