"""BORIS (Behavioral Observation Research Interactive Software) tabular event files.

Read (:func:`read_boris`), CSV or TSV, the separator sniffed from the header line:

- the *tabular events* export: one row per event, ``Time`` (s), ``Subject``, ``Behavior`` and a
  status column (``Status`` in BORIS <= 7, ``Behavior type`` in BORIS 8) holding ``START``,
  ``STOP`` or ``POINT``. Older exports start with a block of metadata lines (``Observation id``,
  ``Media file(s)``, ``Player #1``, ...) before the header: lines before the first one naming
  ``Behavior`` and ``Time`` are skipped. State events are paired START -> STOP per
  (observation, subject, behaviour) in file order; a STOP without a START, a START never
  stopped (or started twice), a STOP earlier than its START and a malformed time are errors
  naming the file and the row. POINT events become bouts with ``start_s == stop_s``.
- the *aggregated events* export: one row per bout, ``Start (s)``, ``Stop (s)`` and
  ``Behavior type`` (``STATE`` / ``POINT``).

``Subject`` becomes the bout's subject ("" when empty or "No focal subject"); BORIS has no
rater column, so ``rater`` is "". ``row`` is the 1-based line in the file.

Write (:func:`write_boris`): a bout table (``ethoflow.behaviour.bouts``: ``animal``,
``partner``, ``behaviour``, ``start_s``, ``stop_s``, ...) as a BORIS 7 style tabular events
file (the metadata block, then ``START``/``STOP`` rows sorted by time, ``POINT`` rows for bouts
without duration; ``partner`` goes to ``Modifiers``). Times are written exactly (shortest
round-trip decimal), so :func:`read_boris` gives the bouts back. Tab-separated unless the
destination ends in ``.csv``.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pandas as pd

from ethoflow.io.bouts import (
    BehaviourLabelError,
    check_bouts,
    make_bouts,
    parse_number,
    read_table,
    sniff_separator,
)
from ethoflow.io.files import atomic_path

NO_SUBJECT = ("", "no focal subject")
EVENT_COLUMNS = [
    "Time",
    "Media file path",
    "Total length",
    "FPS",
    "Subject",
    "Behavior",
    "Behavioral category",
    "Modifiers",
    "Comment",
    "Status",
]


def _header_index(path: Path) -> tuple[int, str]:
    """(0-based line of the table header, separator)."""
    if not path.is_file():
        raise BehaviourLabelError(f"{path}: BORIS file not found")
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        sep = sniff_separator(path, line)
        fields = [c.strip().strip('"').lower() for c in line.split(sep)]
        if "behavior" in fields and ("time" in fields or "start (s)" in fields):
            return i, sep
    raise BehaviourLabelError(
        f"{path}: not a BORIS tabular export (no header line with 'Behavior' and 'Time' or "
        "'Start (s)')"
    )


def _column(df: pd.DataFrame, *names: str) -> str | None:
    lower = {str(c).strip().lower(): c for c in df.columns}
    for n in names:
        if n.lower() in lower:
            return lower[n.lower()]
    return None


def _subject(value) -> str:
    s = str(value).strip()
    return "" if s.lower() in NO_SUBJECT else s


def read_boris(path: str | os.PathLike) -> pd.DataFrame:
    """A BORIS tabular events or aggregated events export -> the raw bout table."""
    path = Path(path)
    skip, sep = _header_index(path)
    df = read_table(path, skiprows=skip, sep=sep)
    first_row = skip + 2  # the header's line is skip + 1
    if _column(df, "Start (s)") is not None:
        return _read_aggregated(df, path, first_row)
    return _read_events(df, path, first_row)


def _read_aggregated(df: pd.DataFrame, path: Path, first_row: int) -> pd.DataFrame:
    start_c, stop_c = _column(df, "Start (s)"), _column(df, "Stop (s)")
    beh_c, subj_c = _column(df, "Behavior"), _column(df, "Subject")
    type_c = _column(df, "Behavior type")
    if stop_c is None:
        raise BehaviourLabelError(f"{path}: row {first_row - 1} (header): no 'Stop (s)' column")
    records = []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + first_row
        kind = str(rec[type_c]).strip().upper() if type_c else "STATE"
        start = parse_number(rec[start_c], path, row, start_c)
        if kind == "POINT" and not str(rec[stop_c]).strip():
            stop = start
        else:
            stop = parse_number(rec[stop_c], path, row, stop_c)
        records.append(
            dict(
                rater="",
                subject=_subject(rec[subj_c]) if subj_c else "",
                type=str(rec[beh_c]).strip(),
                start_s=start,
                stop_s=stop,
                file=str(path),
                row=row,
            )
        )
    return check_bouts(make_bouts(records))


def _read_events(df: pd.DataFrame, path: Path, first_row: int) -> pd.DataFrame:
    time_c, beh_c = _column(df, "Time"), _column(df, "Behavior")
    subj_c, obs_c = _column(df, "Subject"), _column(df, "Observation id")
    status_c = _column(df, "Status", "Behavior type")
    if status_c is None:
        raise BehaviourLabelError(
            f"{path}: row {first_row - 1} (header): no 'Status' (or 'Behavior type') column"
        )
    open_: dict[tuple, tuple[float, int]] = {}
    records = []
    for i, rec in enumerate(df.to_dict("records")):
        row = i + first_row
        t = parse_number(rec[time_c], path, row, time_c)
        beh = str(rec[beh_c]).strip()
        subj = _subject(rec[subj_c]) if subj_c else ""
        key = (str(rec[obs_c]).strip() if obs_c else "", subj, beh)
        status = str(rec[status_c]).strip().upper()
        who = f"{beh!r}" + (f" of {subj!r}" if subj else "")
        if status == "POINT":
            records.append(_record(subj, beh, t, t, path, row))
        elif status == "START":
            if key in open_:
                raise BehaviourLabelError(
                    f"{path}: row {row}: START of {who} while the START at row "
                    f"{open_[key][1]} is not stopped"
                )
            open_[key] = (t, row)
        elif status == "STOP":
            if key not in open_:
                raise BehaviourLabelError(f"{path}: row {row}: STOP of {who} without a START")
            t0, row0 = open_.pop(key)
            if t < t0:
                raise BehaviourLabelError(
                    f"{path}: row {row}: STOP of {who} at {t:g} s is before its START at "
                    f"{t0:g} s (row {row0})"
                )
            records.append(_record(subj, beh, t0, t, path, row0))
        else:
            raise BehaviourLabelError(
                f"{path}: row {row}: column {status_c!r}: {rec[status_c]!r} is not START, STOP "
                "or POINT"
            )
    if open_:
        (_, subj, beh), (t0, row0) = min(open_.items(), key=lambda kv: kv[1][1])
        raise BehaviourLabelError(
            f"{path}: row {row0}: START of {beh!r} at {t0:g} s is never stopped"
        )
    return check_bouts(make_bouts(sorted(records, key=lambda r: (r["start_s"], r["row"]))))


def _record(subj: str, beh: str, t0: float, t1: float, path: Path, row: int) -> dict:
    return dict(rater="", subject=subj, type=beh, start_s=t0, stop_s=t1, file=str(path), row=row)


def _time(t: float) -> str:
    return repr(float(t))


def boris_events(
    bouts: pd.DataFrame, *, fps: float, media_file: str = "", total_length: float | None = None
) -> pd.DataFrame:
    """The event rows (:data:`EVENT_COLUMNS`) of a bout table, sorted by time (a STOP before a
    START at the same time)."""
    if total_length is None:
        total_length = float(bouts["stop_s"].max()) if len(bouts) else 0.0
    rows = []
    for b in bouts.itertuples(index=False):
        base = {
            "Media file path": media_file,
            "Total length": _time(total_length),
            "FPS": f"{fps:g}",
            "Subject": str(getattr(b, "animal", "") or ""),
            "Behavior": str(b.behaviour),
            "Behavioral category": "",
            "Modifiers": str(getattr(b, "partner", "") or ""),
            "Comment": "",
        }
        t0, t1 = float(b.start_s), float(b.stop_s)
        if t1 < t0:
            raise BehaviourLabelError(f"bout {b.behaviour!r} stops at {t1} s before {t0} s")
        if t1 == t0:
            rows.append((t0, 1, {**base, "Time": _time(t0), "Status": "POINT"}))
        else:
            rows.append((t0, 2, {**base, "Time": _time(t0), "Status": "START"}))
            rows.append((t1, 0, {**base, "Time": _time(t1), "Status": "STOP"}))
    rows.sort(key=lambda r: (r[0], r[1]))
    return pd.DataFrame([r[2] for r in rows], columns=EVENT_COLUMNS)


def write_boris(
    bouts: pd.DataFrame,
    dest: str | os.PathLike,
    *,
    fps: float,
    observation_id: str,
    media_file: str = "",
) -> None:
    """Write a bout table as a BORIS tabular events file (atomically; see the module doc)."""
    dest = Path(dest)
    sep = "," if dest.suffix.lower() == ".csv" else "\t"
    events = boris_events(bouts, fps=fps, media_file=media_file)
    preamble = [
        ["Observation id", observation_id],
        [],
        ["Media file(s)"],
        [],
        ["Player #1", media_file],
        [],
        ["Observation date", ""],
        [],
        ["Description", ""],
        [],
        ["Time offset (s)", "0"],
        [],
    ]
    with atomic_path(dest) as tmp:
        with open(tmp, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f, delimiter=sep, lineterminator="\n")
            w.writerows(preamble)
            w.writerow(EVENT_COLUMNS)
            w.writerows(events.itertuples(index=False, name=None))
