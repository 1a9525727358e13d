"""The raw bout table every behaviour label reader returns, and the two plain CSV formats.

Raw bout table (:data:`BOUT_COLUMNS`)
    ``rater`` (str, "" when the format has none), ``subject`` (str, "" when none: the single
    animal), ``type`` (the behaviour name as written in the file), ``start_s`` / ``stop_s``
    (float seconds; point events have ``start_s == stop_s``), ``file`` (the path read) and
    ``row`` (the 1-based line of the file the bout comes from, the header being line 1; for
    per-frame formats the line where the bout starts), so that every later error can name it.

Formats read here
    :func:`read_bout_csv`: one row per bout (``rater``, ``start``, ``stop``, ``type`` and an
    optional ``subject`` column, with the aliases in :data:`ALIASES`; an unnamed first column,
    a pandas index, is dropped). :func:`read_frame_csv`: one row per frame, a ``frame`` column
    and one 0/1 column per behaviour; runs of 1s become bouts ``[first / fps, (last + 1) / fps)``.
    :func:`frame_runs` turns such 0/1 columns into bouts for the other per-frame formats (SimBA).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io.files import EthoflowError

#: The bout table of predicted or true bouts (what :func:`ethoflow.io.boris.write_boris`
#: takes): frames [start, stop), seconds and the partner of each bout.
BOUT_TABLE_COLUMNS = [
    "video",
    "animal",
    "partner",
    "behaviour",
    "start_frame",
    "stop_frame",
    "start_s",
    "stop_s",
    "duration_s",
]
BOUT_COLUMNS = ["rater", "subject", "type", "start_s", "stop_s", "file", "row"]

#: canonical column -> the names a file may use for it (matched case-insensitively).
ALIASES = {
    "rater": ("rater", "experimenter", "observer"),
    "start": ("start", "from", "start_s"),
    "stop": ("stop", "to", "stop_s"),
    "type": ("type", "behaviour", "behavior"),
    "subject": ("subject", "animal"),
}
REQUIRED = ("start", "stop", "type")


class BehaviourLabelError(EthoflowError):
    """A behaviour label file that cannot be read: the message names the file and the row."""


def empty_bouts() -> pd.DataFrame:
    return make_bouts([])


def make_bouts(records: list[dict]) -> pd.DataFrame:
    """A raw bout table from dicts with the :data:`BOUT_COLUMNS` keys, with the table's dtypes."""
    df = pd.DataFrame.from_records(records, columns=BOUT_COLUMNS)
    for c in ("rater", "subject", "type", "file"):
        df[c] = df[c].astype(str)
    df["start_s"] = df["start_s"].astype("float64")
    df["stop_s"] = df["stop_s"].astype("float64")
    df["row"] = df["row"].astype("int64")
    return df.reset_index(drop=True)


def check_bouts(bouts: pd.DataFrame) -> pd.DataFrame:
    """Raise :class:`BehaviourLabelError` on a missing column, a non-finite time or a bout that
    stops before it starts; return the table."""
    missing = [c for c in BOUT_COLUMNS if c not in bouts.columns]
    if missing:
        raise BehaviourLabelError(f"bout table lacks the columns {missing}")
    for r in bouts.itertuples(index=False):
        where = f"{r.file}: row {r.row}"
        if not (np.isfinite(r.start_s) and np.isfinite(r.stop_s)):
            raise BehaviourLabelError(f"{where}: {r.type!r} has a non-finite time")
        if r.stop_s < r.start_s:
            raise BehaviourLabelError(
                f"{where}: {r.type!r} stops ({r.stop_s:g} s) before it starts ({r.start_s:g} s)"
            )
    return bouts


def sniff_separator(path: str | os.PathLike, header_line: str) -> str:
    """Tab when the header line has tabs (TSV), else comma."""
    return "\t" if "\t" in header_line or str(path).lower().endswith((".tsv", ".txt")) else ","


def read_table(path: str | os.PathLike, *, skiprows: int = 0, sep: str | None = None):
    """The file as a string DataFrame (nothing converted), or an error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise BehaviourLabelError(f"{path}: label file not found")
    try:
        if sep is None:
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
            if len(lines) <= skiprows:
                raise BehaviourLabelError(f"{path}: the file is empty")
            sep = sniff_separator(path, lines[skiprows])
        return pd.read_csv(
            path,
            sep=sep,
            skiprows=skiprows,
            dtype=str,
            keep_default_na=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise BehaviourLabelError(f"{path}: not a readable CSV/TSV table ({e})") from e


def drop_index_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Drop unnamed columns (a pandas index written with the table)."""
    keep = [c for c in df.columns if str(c).strip() and not str(c).startswith("Unnamed:")]
    return df[keep]


def find_columns(df: pd.DataFrame, path, required=REQUIRED, aliases=ALIASES) -> dict[str, str]:
    """canonical name -> the file's column, for every alias found; error when a required one
    is missing (naming the file, the column and the names accepted)."""
    lower = {str(c).strip().lower(): c for c in df.columns}
    found = {}
    for canon, names in aliases.items():
        for n in names:
            if n in lower:
                found[canon] = lower[n]
                break
    for canon in required:
        if canon not in found:
            raise BehaviourLabelError(
                f"{path}: row 1 (header): no {canon!r} column (one of {list(aliases[canon])}; "
                f"the columns are {list(df.columns)})"
            )
    return found


def parse_number(value: str, path, row: int, column: str) -> float:
    """A float from a cell, or an error naming the file, row and column."""
    try:
        x = float(str(value).strip())
    except ValueError:
        x = float("nan")
    if not np.isfinite(x):
        raise BehaviourLabelError(
            f"{path}: row {row}: column {column!r}: {value!r} is not a number"
        )
    return x


def read_bout_csv(path: str | os.PathLike) -> pd.DataFrame:
    """A CSV/TSV with one row per bout -> the raw bout table (see the module docstring)."""
    df = drop_index_columns(read_table(path))
    cols = find_columns(df, path)
    records = []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + 2  # the header is line 1
        start = parse_number(rec[cols["start"]], path, row, cols["start"])
        stop = parse_number(rec[cols["stop"]], path, row, cols["stop"])
        typ = str(rec[cols["type"]]).strip()
        if not typ:
            raise BehaviourLabelError(f"{path}: row {row}: column {cols['type']!r} is empty")
        records.append(
            dict(
                rater=str(rec[cols["rater"]]).strip() if "rater" in cols else "",
                subject=str(rec[cols["subject"]]).strip() if "subject" in cols else "",
                type=typ,
                start_s=start,
                stop_s=stop,
                file=str(path),
                row=row,
            )
        )
    return check_bouts(make_bouts(records))


def frame_runs(
    frames: np.ndarray, values: np.ndarray, *, fps: float, kind: str, path, first_row: int = 2
) -> list[dict]:
    """Bouts of one 0/1 column: runs of 1s over consecutive frame numbers ->
    ``[first / fps, (last + 1) / fps)``; ``row`` is the line where the run starts."""
    frames = np.asarray(frames, dtype=np.int64)
    on = np.asarray(values, dtype=bool)
    out = []
    if not len(on):
        return out
    breaks = np.ones(len(on), dtype=bool)
    breaks[1:] = (on[1:] != on[:-1]) | (np.diff(frames) != 1)
    starts = np.flatnonzero(breaks)
    ends = np.append(starts[1:], len(on))
    for a, b in zip(starts, ends):
        if on[a]:
            out.append(
                dict(
                    rater="",
                    subject="",
                    type=kind,
                    start_s=frames[a] / fps,
                    stop_s=(frames[b - 1] + 1) / fps,
                    file=str(path),
                    row=int(a) + first_row,
                )
            )
    return out


def binary_column(df: pd.DataFrame, column: str, path, first_row: int = 2) -> np.ndarray:
    """A 0/1 column as bool, or an error naming the file, the column and the first bad row."""
    raw = df[column].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce")
    bad = ~num.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise BehaviourLabelError(
            f"{path}: row {i + first_row}: column {column!r}: {raw.iloc[i]!r} is not 0 or 1"
        )
    return num.to_numpy() == 1


def frame_numbers(df: pd.DataFrame, column: str, path, first_row: int = 2) -> np.ndarray:
    """Integer, non-negative, increasing frame numbers, or an error naming the row."""
    raw = df[column].astype(str).str.strip()
    num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(num) | (num < 0) | (num != np.round(num))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise BehaviourLabelError(
            f"{path}: row {i + first_row}: column {column!r}: {raw.iloc[i]!r} is not a frame number"
        )
    frames = num.astype(np.int64)
    back = np.flatnonzero(np.diff(frames) <= 0)
    if len(back):
        i = int(back[0]) + 1
        raise BehaviourLabelError(
            f"{path}: row {i + first_row}: frame {frames[i]} does not follow frame {frames[i - 1]}"
        )
    return frames


def read_frame_csv(path: str | os.PathLike, fps: float) -> pd.DataFrame:
    """A per-frame CSV (``frame`` + one 0/1 column per behaviour) -> the raw bout table."""
    if not fps or fps <= 0:
        raise BehaviourLabelError(f"{path}: a per-frame label file needs fps > 0 (got {fps})")
    df = drop_index_columns(read_table(path))
    lower = {str(c).strip().lower(): c for c in df.columns}
    if "frame" not in lower:
        raise BehaviourLabelError(
            f"{path}: row 1 (header): no 'frame' column (the columns are {list(df.columns)})"
        )
    fcol = lower["frame"]
    frames = frame_numbers(df, fcol, path)
    records = []
    for col in df.columns:
        if col == fcol:
            continue
        on = binary_column(df, col, path)
        records += frame_runs(frames, on, fps=fps, kind=str(col).strip(), path=path)
    return check_bouts(make_bouts(records))
