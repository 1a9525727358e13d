"""SimBA per-frame target files (``project_folder/csv/targets_inserted/<video>.csv``).

One row per frame: a first, unnamed column holding the frame index, the pose and feature
columns, then one 0/1 column per classifier (behaviour) named as the behaviour. Only the named
behaviour columns are read; runs of 1s become bouts ``[first / fps, (last + 1) / fps)`` (see
:func:`ethoflow.io.bouts.frame_runs`). A behaviour column that is missing, or that holds
anything but 0 and 1, is an error naming the file (and the row).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io.bouts import (
    BehaviourLabelError,
    binary_column,
    check_bouts,
    frame_numbers,
    frame_runs,
    make_bouts,
    read_table,
)


def read_simba(path: str | os.PathLike, behaviours: list[str], fps: float) -> pd.DataFrame:
    """A SimBA targets CSV -> the raw bout table of the ``behaviours`` columns."""
    path = Path(path)
    if not fps or fps <= 0:
        raise BehaviourLabelError(f"{path}: a SimBA file needs fps > 0 (got {fps})")
    if not behaviours:
        raise BehaviourLabelError(f"{path}: no behaviours (classifier columns) to read")
    df = read_table(path)
    first = str(df.columns[0]) if len(df.columns) else ""
    if not first.strip() or first.startswith("Unnamed:"):
        frames = frame_numbers(df, df.columns[0], path)
    else:
        frames = np.arange(len(df), dtype=np.int64)
    missing = [b for b in behaviours if b not in df.columns]
    if missing:
        raise BehaviourLabelError(
            f"{path}: row 1 (header): no column for the behaviours {missing} "
            f"({len(df.columns)} columns, the last ones {list(df.columns[-5:])})"
        )
    records = []
    for b in behaviours:
        records += frame_runs(frames, binary_column(df, b, path), fps=fps, kind=b, path=path)
    return check_bouts(make_bouts(records))
