"""Bento (Caltech behaviour annotator) ``.annot`` files.

Layout: a header (``Bento annotation file``, ``Movie file(s):``, ``Stimulus name:``,
``Annotation start frame: N``, ``Annotation stop frame: M``, ``Annotation framerate: F``,
``List of channels:`` + one name a line, ``List of annotations:`` + one name a line, each
list ending at a blank line), then per channel a line ``<channel>----------`` followed by
blocks ``>behaviour``, a ``Start  Stop  Duration`` header and one bout a row, a blank line
ending the block (two ending the channel).

Bout rows hold frame numbers (integers: 1-based and inclusive, as Bento writes them) or, in
files the MATLAB BentoMAT wrote, seconds (Bento's own rule: a row with a decimal point is in
seconds). Frames become seconds with the file's frame rate, the start frame offset applied:
``start_s = (start - start_frame) / F``, ``stop_s = (stop - start_frame + 1) / F``. The
channel becomes the bout's subject (``channel_as="subject"``, the usual use: one channel per
animal) or its rater (``channel_as="rater"``: one channel per annotator).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ethoflow.io.bouts import BehaviourLabelError, check_bouts, make_bouts


def _header_value(line: str, path: Path, row: int, kind=float):
    value = line.split(":", 1)[1].strip()
    try:
        return kind(float(value)) if kind is int else kind(value)
    except ValueError as e:
        raise BehaviourLabelError(
            f"{path}: row {row}: {line.split(':')[0]!r}: {value!r} is not a number"
        ) from e


def _read_header(lines: list[str], path: Path) -> tuple[dict, int]:
    """The header fields and the index of the first line after the lists."""
    if not lines or lines[0].strip().lower() != "bento annotation file":
        raise BehaviourLabelError(f"{path}: row 1: not a Bento annotation file")
    head = {"start_frame": 1, "fps": None, "channels": [], "annotations": []}
    i = 1
    while i < len(lines):
        s = lines[i].strip()
        low = s.lower()
        if low.startswith("annotation start frame:"):
            head["start_frame"] = _header_value(s, path, i + 1, int)
        elif low.startswith("annotation framerate:"):
            head["fps"] = _header_value(s, path, i + 1, float)
        elif low.startswith("list of channels:") or low.startswith("list of annotations:"):
            key = "channels" if "channels" in low else "annotations"
            i += 1
            while i < len(lines) and lines[i].strip():
                head[key].append(lines[i].strip())
                i += 1
            if key == "annotations":
                return head, i
        elif s.endswith("----------"):
            return head, i
        i += 1
    return head, i


def _row_times(parts: list[str], head: dict, path: Path, row: int) -> tuple[float, float]:
    if len(parts) < 2:
        raise BehaviourLabelError(f"{path}: row {row}: expected Start, Stop (and Duration)")
    try:
        start, stop = float(parts[0]), float(parts[1])
    except ValueError as e:
        raise BehaviourLabelError(
            f"{path}: row {row}: {parts[0]!r} / {parts[1]!r} is not a number"
        ) from e
    if any("." in p or "e" in p.lower() for p in parts[:3]):
        return start, stop  # seconds (BentoMAT)
    fps, f0 = head["fps"], head["start_frame"]
    return (start - f0) / fps, (stop - f0 + 1) / fps


def read_bento(path: str | os.PathLike, *, channel_as: str = "subject") -> pd.DataFrame:
    """A Bento ``.annot`` file -> the raw bout table (see the module docstring)."""
    if channel_as not in ("subject", "rater"):
        raise ValueError(f"channel_as must be 'subject' or 'rater', not {channel_as!r}")
    path = Path(path)
    if not path.is_file():
        raise BehaviourLabelError(f"{path}: Bento file not found")
    with open(path, encoding="utf-8-sig") as f:
        lines = f.read().splitlines()
    head, i = _read_header(lines, path)
    if not head["fps"] or head["fps"] <= 0:
        raise BehaviourLabelError(f"{path}: no positive 'Annotation framerate:' in the header")
    channels = set(head["channels"])
    records, channel, behaviour = [], None, None
    for j in range(i, len(lines)):
        row, s = j + 1, lines[j].strip()
        if not s:
            behaviour = None
        elif s.endswith("----------"):
            channel = s[: -len("----------")].rstrip("-").strip()
            if channels and channel not in channels:
                raise BehaviourLabelError(
                    f"{path}: row {row}: channel {channel!r} is not in the list of channels "
                    f"{sorted(channels)}"
                )
            behaviour = None
        elif s.startswith(">"):
            if channel is None:
                raise BehaviourLabelError(f"{path}: row {row}: behaviour {s!r} before a channel")
            behaviour = s[1:].strip()
        elif s.lower().startswith("start"):
            continue
        elif behaviour is None:
            raise BehaviourLabelError(f"{path}: row {row}: {s!r} outside a '>behaviour' block")
        else:
            start, stop = _row_times(s.split(), head, path, row)
            records.append(
                dict(
                    rater=channel if channel_as == "rater" else "",
                    subject=channel if channel_as == "subject" else "",
                    type=behaviour,
                    start_s=start,
                    stop_s=stop,
                    file=str(path),
                    row=row,
                )
            )
    return check_bouts(make_bouts(records))
