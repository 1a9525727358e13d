"""Read DeepLabCut label tables (``CollectedData_<scorer>.h5`` / ``.csv``, and analysis output).

A DeepLabCut table is wide: one row per labelled image (or video frame), and a column per
(scorer, [individual,] body part, coordinate) in 3 or 4 header levels. The reader turns it into
the long keypoint table of :mod:`ethoflow.io.keypoints`.

Single-animal files give identity ``"animal"`` (or the one name passed); multi-animal files
give the ``individuals``. The ``"single"`` individual of a multi-animal project (its unique
body parts: objects, not animals) is left out unless asked for. Edges come from the project's
``config.yaml`` ``skeleton`` when there is one. An (image, identity) with no labelled point is
not an instance and gives no rows.

Coordinates: DeepLabCut labels (napari / matplotlib GUIs, integer coordinate = pixel centre)
follow the keypoint tables' convention and are kept as stored. They live in the frame of the
extracted image, i.e. after the project's ``video_sets`` crop, if the project crops.

Label files sit at ``<project>/labeled-data/<video>/CollectedData_<scorer>.*``: the project
root (``config.yaml``, and the base of the image paths) is two folders above the file.
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from ethoflow.io.keypoints import (
    SINGLE_ANIMAL,
    KeypointError,
    KeypointSet,
    make_table,
    sort_table,
)

log = logging.getLogger(__name__)

DLC_UNIQUE = "single"  # DeepLabCut's pseudo-individual holding a project's unique body parts
_LEVELS3 = ["scorer", "bodyparts", "coords"]
_LEVELS4 = ["scorer", "individuals", "bodyparts", "coords"]
_COORDS = {"x", "y", "likelihood"}


def _project_root(path: Path) -> Path:
    return path.parent.parent.parent


# --------------------------------------------------------------------------------------------
# the wide table, from HDF5 or CSV


def _read_h5(path: Path) -> pd.DataFrame:
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


def _read_csv(path: Path) -> pd.DataFrame:
    """The CSV parsed by hand, not with pandas: the header layout is checked so that a garbled
    file is an error naming the problem rather than a table of wrong columns."""
    try:
        with open(path, newline="") as fh:
            rows = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise KeypointError(path, f"cannot read CSV ({e})") from None
    if not rows:
        raise KeypointError(path, "empty file")
    if len(rows[0]) > 1 and not rows[0][0].strip() and rows[0][1].strip().lower() == "scorer":
        # a DeepLabCut table saved again by pandas: its own index column comes first
        rows = [r[1:] for r in rows]
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


def _read_wide(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise KeypointError(path, "file not found")
    suffix = path.suffix.lower()
    if suffix == ".h5":
        return _read_h5(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise KeypointError(path, f"not a DeepLabCut label file (suffix {suffix!r})")


# --------------------------------------------------------------------------------------------
# header, individuals, rows


@dataclass
class _Header:
    """The columns of a wide table: ``keyed[(individual, body part)][coord]`` is a column
    number (individual ``""`` in single-animal files); parts and individuals in file order."""

    multi: bool  # 4 header levels: a multi-animal project
    keyed: dict[tuple[str, str], dict[str, int]]
    parts: list[str]
    individuals: list[str]
    predicted: bool  # likelihood columns: machine labels


def _header(path: Path, cols: pd.Index) -> _Header:
    if not isinstance(cols, pd.MultiIndex) or cols.nlevels not in (3, 4):
        raise KeypointError(path, "not a DeepLabCut label table (expected 3 or 4 header levels)")
    multi = cols.nlevels == 4
    coords = cols.get_level_values(-1).astype(str)
    if not set(coords) <= _COORDS:
        bad = sorted(set(coords) - _COORDS)
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
    return _Header(
        multi=multi,
        keyed=keyed,
        parts=list(dict.fromkeys(parts)),
        individuals=list(dict.fromkeys(inds)),
        predicted="likelihood" in set(coords),
    )


def _choose(
    path: Path, h: _Header, identities: list[str] | None
) -> tuple[list[str], dict[str, str]]:
    """(individuals read, individual -> identity): see :func:`read_dlc`."""
    if h.multi:
        if identities is None:
            chosen = [i for i in h.individuals if i != DLC_UNIQUE] or h.individuals
        else:
            unknown = [i for i in identities if i not in h.individuals]
            if unknown:
                raise KeypointError(path, f"no individuals {unknown}; it has {h.individuals}")
            chosen = list(identities)
        return chosen, {i: i for i in chosen}
    if identities is not None and len(identities) != 1:
        raise KeypointError(path, f"single-animal file: give one identity, not {list(identities)}")
    return [""], {"": identities[0] if identities else SINGLE_ANIMAL}


def _frame_numbers(images: list[str]) -> np.ndarray:
    """The number in each image name (``img0042.png`` -> 42); the row numbers when a name has
    no number or two images share one."""
    nums = []
    for img in images:
        found = re.findall(r"\d+", PurePosixPath(img).stem)
        nums.append(int(found[-1]) if found else None)
    if None in nums or len(set(nums)) != len(nums):
        return np.arange(len(images), dtype=np.int64)
    return np.array(nums, dtype=np.int64)


def _rows(path: Path, idx: pd.Index, predicted: bool) -> tuple[list[str | None], np.ndarray]:
    """(image of each row, frame of each row). Rows are image paths (a string or DeepLabCut's
    3-level index), which must exist under the project root, or frame numbers in analysis
    output."""
    if isinstance(idx, pd.MultiIndex):
        labels = ["/".join(str(p) for p in t if str(p) not in ("", "nan")) for t in idx]
    else:
        labels = [str(v) for v in idx]
    if predicted and pd.api.types.is_integer_dtype(idx.dtype):
        return [None] * len(labels), np.asarray(idx, dtype=np.int64)
    if predicted and labels and all(lab.isdigit() for lab in labels):  # analysis CSV: frames
        return [None] * len(labels), np.array([int(lab) for lab in labels], dtype=np.int64)
    images: list[str | None] = [lab.replace("\\", "/") for lab in labels]
    root = _project_root(path)
    missing = [img for img in dict.fromkeys(images) if not (root / img).is_file()]
    if missing:
        raise KeypointError(
            path,
            f"{len(missing)} labelled images missing under {root}: "
            + ", ".join(missing[:3])
            + (" ..." if len(missing) > 3 else ""),
        )
    return images, _frame_numbers(images)


def _instance_rows(
    h: _Header,
    ind: str,
    bps: list[str],
    vals: np.ndarray,
    images: list[str | None],
    frame_no: np.ndarray,
    identity: str,
) -> pd.DataFrame:
    """The keypoint rows of individual ``ind`` (body parts ``bps``) in every row of the wide
    table ``vals`` where it has a labelled point."""
    cols = [h.keyed[(ind, bp)] for bp in bps]
    xs = np.stack([vals[:, c["x"]] for c in cols], axis=1)
    ys = np.stack([vals[:, c["y"]] for c in cols], axis=1)
    if h.predicted:
        sc = np.stack(
            [
                vals[:, c["likelihood"]] if "likelihood" in c else np.full(len(vals), np.nan)
                for c in cols
            ],
            axis=1,
        )
    else:
        sc = np.full(xs.shape, np.nan)
    vis = np.isfinite(xs) & np.isfinite(ys)
    present = vis.any(axis=1)  # an (image, identity) without any point is no instance
    r = np.flatnonzero(present)
    k = len(bps)
    return make_table(
        frame=np.repeat(frame_no[r], k),
        image=[images[i] for i in r for _ in range(k)],
        identity=[identity] * (len(r) * k),
        node=bps * len(r),
        x=xs[r].ravel(),
        y=ys[r].ravel(),
        visible=vis[r].ravel(),
        score=sc[r].ravel(),
        source=["predicted" if h.predicted else "user"] * (len(r) * k),
    )


def _edges(root: Path, nodes: list[str]) -> list[tuple[str, str]]:
    """The ``skeleton`` of the project's ``config.yaml`` between ``nodes``; none without one."""
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


# --------------------------------------------------------------------------------------------
# reader


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
    wide = _read_wide(path)
    h = _header(path, wide.columns)
    chosen, names = _choose(path, h, identities)
    images, frame_no = _rows(path, wide.index, h.predicted)

    vals = wide.to_numpy(dtype=np.float64)
    parts_out: list[pd.DataFrame] = []
    for ind in chosen:
        bps = [bp for bp in h.parts if (ind, bp) in h.keyed]
        if bps:
            parts_out.append(_instance_rows(h, ind, bps, vals, images, frame_no, names[ind]))
    ids = [names[i] for i in chosen]
    if parts_out:
        table = pd.concat(parts_out, ignore_index=True)
    else:
        table = make_table(*([[]] * 9))
    used_nodes = [bp for bp in h.parts if any((ind, bp) in h.keyed for ind in chosen)]
    return KeypointSet(
        table=sort_table(table, ids, used_nodes),
        nodes=used_nodes,
        edges=_edges(_project_root(path), used_nodes),
        identities=ids,
        video=None,
        format="dlc",
        path=str(path),
    )


__all__ = ["DLC_UNIQUE", "read_dlc"]
