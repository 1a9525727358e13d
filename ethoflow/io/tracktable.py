"""The track table: one row per identity per frame, the workflow's central product.

The same schema holds ground truth (``source == "truth"``), so tracks and truth compare column
for column. Run statistics that are not per row (e.g. the inference throughput behind a track
table, ``{"infer_frames", "infer_seconds"}``) travel as JSON in the Parquet schema metadata under
:data:`STATS_KEY`; they never change the columns.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ethoflow.io import masks as M
from ethoflow.io.files import EthoflowError, atomic_path, strict_json

log = logging.getLogger(__name__)

RLE_TYPE = pa.struct([("size", pa.list_(pa.int32())), ("counts", pa.string())])

TRACK_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("model", pa.string()),
        ("frame", pa.int64()),
        ("time_s", pa.float64()),
        ("identity", pa.string()),
        ("score", pa.float64()),
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("x2", pa.float64()),
        ("y2", pa.float64()),
        ("cx", pa.float64()),
        ("cy", pa.float64()),
        ("area", pa.int64()),
        ("mask", RLE_TYPE),
        ("source", pa.string()),
    ],
    metadata={
        b"description": b"ethoflow track table: one row per identity per frame",
        b"mask": b"COCO run-length encoding {size: [height, width], counts: compressed string}",
        b"source": b"detected | interpolated | truth",
    },
)
#: Schema metadata key of run statistics (JSON), in detection shards and track tables.
STATS_KEY = b"ethoflow"
SOURCES = ("detected", "interpolated", "truth")
COLUMNS = [f.name for f in TRACK_SCHEMA]


def row_from_mask(rle: dict) -> dict:
    """Geometry columns (box, centroid, area) derived from a mask (RLE), from its runs."""
    return M.geometry(rle)


def geometry(mask: np.ndarray) -> dict:
    """Geometry columns (box, centroid, area) of a bool HxW mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return dict(x1=np.nan, y1=np.nan, x2=np.nan, y2=np.nan, cx=np.nan, cy=np.nan, area=0)
    return dict(
        x1=float(xs.min()),
        y1=float(ys.min()),
        x2=float(xs.max() + 1),
        y2=float(ys.max() + 1),
        cx=float(xs.mean() + 0.5),
        cy=float(ys.mean() + 0.5),
        area=int(len(xs)),
    )


def empty() -> pd.DataFrame:
    return TRACK_SCHEMA.empty_table().to_pandas()


def to_arrow(df: pd.DataFrame) -> pa.Table:
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"track table lacks columns {missing}")
    bad = set(df["source"].unique()) - set(SOURCES)
    if bad:
        raise ValueError(f"track table has unknown source values {sorted(bad)}")
    if df.duplicated(["video", "model", "frame", "identity"]).any():
        raise ValueError("track table has more than one row for an identity in a frame")
    df = df[COLUMNS].sort_values(["frame", "identity"], kind="stable").reset_index(drop=True)
    return pa.Table.from_pandas(df, schema=TRACK_SCHEMA, preserve_index=False)


def with_stats(table: pa.Table, stats: dict) -> pa.Table:
    """``table`` with ``stats`` (JSON, NaN as null) in its schema metadata under STATS_KEY."""
    text = json.dumps(strict_json(stats), allow_nan=False)
    return table.replace_schema_metadata(
        {**(table.schema.metadata or {}), STATS_KEY: text.encode()}
    )


def write(df: pd.DataFrame, path: str | os.PathLike, stats: dict | None = None) -> None:
    """Write a track table atomically; ``stats`` (JSON-able) go to the schema metadata."""
    table = to_arrow(df)
    if stats is not None:
        table = with_stats(table, stats)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_stats(path: str | os.PathLike) -> dict:
    """The statistics in a Parquet file's schema metadata (schema only, no rows); {} if none."""
    path = Path(path)
    try:
        meta = pq.read_schema(path).metadata or {}
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except pa.ArrowInvalid as e:
        raise EthoflowError(f"{path}: not a readable Parquet file ({e})") from None
    raw = meta.get(STATS_KEY)
    if raw is None:
        return {}
    try:
        stats = json.loads(raw)
    except ValueError:
        stats = None
    if not isinstance(stats, dict):
        log.warning("%s: unreadable statistics in the schema metadata: %r", path, raw)
        return {}
    return stats


def read(path: str | os.PathLike) -> pd.DataFrame:
    path = Path(path)
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except pa.ArrowInvalid as e:
        raise EthoflowError(f"{path}: not a readable Parquet file ({e})") from None
    missing = [c for c in COLUMNS if c not in table.column_names]
    if missing:
        raise EthoflowError(f"{path}: not a track table, missing columns {missing}")
    return table.select(COLUMNS).cast(TRACK_SCHEMA).to_pandas()


def touching_frames(truth_df: pd.DataFrame, dilate: int = 2) -> set[int]:
    """Frames where the masks of two identities touch or overlap.

    Each mask is dilated by ``dilate`` pixels (elliptic kernel); a frame counts when two dilated
    masks intersect. Expects the rows of one video (one model).
    """
    import cv2

    k = None
    if dilate > 0:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * dilate + 1, 2 * dilate + 1))
    out: set[int] = set()
    for frame, g in truth_df.groupby("frame", sort=True):
        grown = []
        for rle in g["mask"]:
            if rle is None or (isinstance(rle, float) and math.isnan(rle)):
                continue
            m = M.decode(rle).astype(np.uint8)
            grown.append((cv2.dilate(m, k) if k is not None else m).astype(bool))
        if any(
            np.any(grown[a] & grown[b]) for a in range(len(grown)) for b in range(a + 1, len(grown))
        ):
            out.add(int(frame))
    return out
