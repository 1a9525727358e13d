"""Detection shards on disk: their schema and readers (no torch needed, unlike inference).

A shard is the Parquet file :func:`ethoflow.tracking.infer.infer_shard` writes: one row per
detection, and in the schema metadata under :data:`ethoflow.io.tracktable.STATS_KEY` the JSON
``{"frames", "seconds", "device"}`` of the inference run that produced it.
"""

from __future__ import annotations

import math
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ethoflow.io.files import EthoflowError
from ethoflow.io.tracktable import RLE_TYPE, read_stats

DETECTION_SCHEMA = pa.schema(
    [
        ("video", pa.string()),
        ("frame", pa.int64()),
        ("det", pa.int32()),
        ("identity", pa.string()),
        ("score", pa.float64()),
        ("class_scores", pa.list_(pa.float32())),
        ("x1", pa.float64()),
        ("y1", pa.float64()),
        ("x2", pa.float64()),
        ("y2", pa.float64()),
        ("mask_area", pa.int64()),
        ("mask", RLE_TYPE),
    ]
)


def _shard_stats(path: str | os.PathLike) -> dict | None:
    """The ``{"frames", "seconds", ...}`` metadata of one shard; None if absent or invalid."""
    stats = read_stats(path)
    try:
        frames, seconds = int(stats["frames"]), float(stats["seconds"])
    except (ValueError, TypeError, KeyError):
        return None
    if frames < 0 or not math.isfinite(seconds) or seconds < 0:
        return None
    return {**stats, "frames": frames, "seconds": seconds}


def read_infer_stats(paths: list[str | os.PathLike]) -> dict:
    """Summed inference statistics of detection shards, from their schema metadata only.

    Returns ``{"frames", "seconds", "fps"}``: totals over the shards that carry statistics
    (shards without them are unknown and left out) and ``fps = frames / seconds``. When no shard
    carries statistics all three are None; ``fps`` is also None when the time is zero.
    """
    known = [s for s in map(_shard_stats, paths) if s is not None]
    if not known:
        return {"frames": None, "seconds": None, "fps": None}
    frames = sum(s["frames"] for s in known)
    seconds = sum(s["seconds"] for s in known)
    return {"frames": frames, "seconds": seconds, "fps": frames / seconds if seconds > 0 else None}


def read_detections(paths: list[str | os.PathLike]) -> pd.DataFrame:
    """Concatenate per-shard detection tables in frame order."""
    tables = []
    for p in paths:
        try:
            missing = [c for c in DETECTION_SCHEMA.names if c not in pq.read_schema(p).names]
            if missing:
                raise EthoflowError(f"{p}: not a detection shard, missing columns {missing}")
            tables.append(pq.read_table(p, schema=DETECTION_SCHEMA))
        except (FileNotFoundError, pa.ArrowInvalid) as e:
            raise EthoflowError(f"{p}: cannot read detections ({e})") from None
    df = (
        pa.concat_tables(tables).to_pandas()
        if tables
        else DETECTION_SCHEMA.empty_table().to_pandas()
    )
    return df.sort_values(["frame", "det"], kind="stable").reset_index(drop=True)
