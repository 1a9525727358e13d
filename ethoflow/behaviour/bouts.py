"""Per-frame predictions -> smoothed labels, bouts, time budgets and latencies; their export.

Smoothing (:func:`smooth_labels`) runs in two passes, in this order:

1. gap merge: a gap shorter than ``merge_gap_frames`` between two bouts of the same behaviour is
   filled with that behaviour (exclusive: whatever the gap held; the background class is not a
   behaviour, so its own runs are never merged);
2. minimum bout: a bout shorter than ``min_bout_frames`` is removed. Multi-label: its frames
   become 0. Exclusive: the shortest such bout goes first and is given to the longer of its two
   neighbouring runs (background included; a tie goes to the earlier neighbour; at either end of
   the sequence to the only neighbour); runs of one class that become adjacent join, and this
   repeats until no behaviour bout is shorter than the minimum. Background runs are never removed.

Frame counts come from seconds by rounding (``round(s * fps)``): a 0.2 s minimum at 30 fps is 6
frames, so bouts of 5 frames or fewer are removed and gaps of 5 frames or fewer are filled.
Sequences with missing frames (a jump in ``frame``) are smoothed, and cut into bouts, piece by
piece: nothing is merged across a jump.

Tables: the Predictions table and the Bout table of the behaviour spec (``video, animal,
partner, behaviour, start_frame, stop_frame`` (exclusive)``, start_s, stop_s, duration_s``).
"""

from __future__ import annotations

import heapq
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io import EthoflowError, atomic_path
from ethoflow.io.bouts import BOUT_TABLE_COLUMNS

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
NONE = "none"
BUDGET_COLUMNS = [
    "video",
    "animal",
    "behaviour",
    "seconds",
    "share",
    "bouts",
    "mean_bout_s",
    "latency_s",
]


# --------------------------------------------------------------------------------------------
# smoothing


def runs_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run-length encoding of a 1-D array: (values, starts, lengths)."""
    values = np.asarray(values)
    if values.size == 0:
        empty = np.zeros(0, dtype=np.int64)
        return values[:0], empty, empty
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, cut].astype(np.int64)
    lengths = np.diff(np.r_[starts, values.size]).astype(np.int64)
    return values[starts], starts, lengths


def _smooth_binary(x: np.ndarray, min_bout: int, merge_gap: int) -> np.ndarray:
    x = np.asarray(x).astype(bool)
    vals, starts, lengths = runs_of(x)
    n = len(vals)
    inner = np.zeros(n, dtype=bool)
    inner[1:-1] = True  # a gap has a bout on both sides: not the first or last run
    fill = ~vals & inner & (lengths < merge_gap)
    out = x.copy()
    for s, ln in zip(starts[fill], lengths[fill]):
        out[s : s + ln] = True
    vals, starts, lengths = runs_of(out)
    drop = vals & (lengths < min_bout)
    for s, ln in zip(starts[drop], lengths[drop]):
        out[s : s + ln] = False
    return out


def _merge_gaps(vals: list, lengths: list, background, merge_gap: int) -> tuple[list, list]:
    """Exclusive gap merge on a run-length encoding, left to right (one pass: a run looks back
    over fewer than ``merge_gap`` frames for an earlier run of its own class)."""
    ov: list = []
    ol: list = []
    for v, ln in zip(vals, lengths):
        if ov and ov[-1] == v:
            ol[-1] += ln
            continue
        if v != background and merge_gap > 1:
            gap, j = 0, len(ov) - 1
            while j >= 0 and gap + ol[j] < merge_gap and ov[j] != v:
                gap += ol[j]
                j -= 1
            if j >= 0 and j < len(ov) - 1 and ov[j] == v:
                ol[j] += gap + ln
                del ov[j + 1 :], ol[j + 1 :]
                continue
        ov.append(v)
        ol.append(ln)
    return ov, ol


def _absorb_short(vals: list, lengths: list, background, min_bout: int) -> tuple[list, list]:
    """Exclusive minimum bout: shortest first, each short bout to its longer neighbour."""
    n = len(vals)
    prev = list(range(-1, n - 1))
    nxt = list(range(1, n)) + [-1]
    alive = [True] * n
    lengths = list(lengths)
    heap = [(ln, i) for i, (v, ln) in enumerate(zip(vals, lengths)) if v != background]
    heap = [h for h in heap if h[0] < min_bout]
    heapq.heapify(heap)

    def unlink(i):
        p, q = prev[i], nxt[i]
        if p >= 0:
            nxt[p] = q
        if q >= 0:
            prev[q] = p
        alive[i] = False

    while heap:
        ln, i = heapq.heappop(heap)
        if not alive[i] or lengths[i] != ln:
            continue
        p, q = prev[i], nxt[i]
        if p < 0 and q < 0:
            break  # the whole sequence is one short bout: nothing to give it to
        if q < 0 or (p >= 0 and lengths[p] >= lengths[q]):
            to = p
        else:
            to = q
        lengths[to] += lengths[i]
        unlink(i)
        other = nxt[to] if to == p else prev[to]
        if other >= 0 and vals[other] == vals[to]:  # the two neighbours now touch: join them
            lengths[to] += lengths[other]
            unlink(other)
        if vals[to] != background and lengths[to] < min_bout:
            heapq.heappush(heap, (lengths[to], to))
    order = [i for i in range(n) if alive[i]]
    return [vals[i] for i in order], [lengths[i] for i in order]


def smooth_labels(
    labels: np.ndarray,
    *,
    min_bout_frames: int,
    merge_gap_frames: int,
    background: int | None = None,
) -> np.ndarray:
    """Smooth per-frame labels (see the module docstring for the rule).

    ``labels``: ``[T]`` integer class ids (exclusive; ``background`` is the id of the "none"
    class, or None when every class is a behaviour) or ``[T, C]`` 0/1 (multi-label: each column
    on its own). Returns an array of the same shape and dtype.
    """
    labels = np.asarray(labels)
    min_bout, merge_gap = int(min_bout_frames), int(merge_gap_frames)
    if labels.ndim == 2:
        out = np.zeros_like(labels)
        for c in range(labels.shape[1]):
            out[:, c] = _smooth_binary(labels[:, c], min_bout, merge_gap)
        return out
    if labels.ndim != 1:
        raise ValueError(f"labels must be [T] class ids or [T, C] 0/1, got shape {labels.shape}")
    if labels.size == 0:
        return labels.copy()
    vals, _, lengths = runs_of(labels)
    v, ln = _merge_gaps(vals.tolist(), lengths.tolist(), background, merge_gap)
    if min_bout > 1:
        v, ln = _absorb_short(v, ln, background, min_bout)
    return np.repeat(np.asarray(v, dtype=labels.dtype), ln)


def _pieces(frames: np.ndarray) -> list[slice]:
    """Slices of consecutive frames (cut where the frame number jumps)."""
    if len(frames) == 0:
        return []
    cut = np.flatnonzero(np.diff(frames) != 1) + 1
    edges = np.r_[0, cut, len(frames)]
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


# --------------------------------------------------------------------------------------------
# predictions


def predictions_table(
    video: str,
    animal: str,
    frames: np.ndarray,
    probs: np.ndarray,
    classes: Sequence[str],
    behaviours: Sequence[str],
    exclusive: bool,
    *,
    fps: float,
    min_bout_s: float,
    merge_gap_s: float,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """One animal's class probabilities ``[T, len(classes)]`` -> the Predictions table.

    Exclusive: the argmax class per frame (``classes`` holds "none"), then smoothing; multi-label:
    ``prob >= threshold`` per behaviour, then smoothing. ``label`` is the behaviour name (joined
    by "+" for several) or "none".
    """
    frames = np.asarray(frames, dtype=np.int64)
    probs = np.asarray(probs, dtype=np.float32)
    classes, behaviours = list(classes), list(behaviours)
    if probs.shape != (len(frames), len(classes)):
        raise EthoflowError(
            f"{video}/{animal}: probabilities of shape {probs.shape}, expected "
            f"({len(frames)}, {len(classes)}) for the classes {classes}"
        )
    missing = [b for b in behaviours if b not in classes]
    if missing or (exclusive and NONE not in classes):
        raise EthoflowError(
            f"{video}/{animal}: classes {classes} lack {missing or [NONE]} "
            f"({'exclusive' if exclusive else 'multi-label'} behaviours {behaviours})"
        )
    kw = dict(
        min_bout_frames=int(round(min_bout_s * fps)),
        merge_gap_frames=int(round(merge_gap_s * fps)),
    )
    onoff = np.zeros((len(frames), len(behaviours)), dtype=np.int8)
    if exclusive:
        ids = probs.argmax(axis=1).astype(np.int64) if len(frames) else np.zeros(0, np.int64)
        for sl in _pieces(frames):
            ids[sl] = smooth_labels(ids[sl], background=classes.index(NONE), **kw)
        for j, b in enumerate(behaviours):
            onoff[:, j] = ids == classes.index(b)
        label = np.asarray(classes, dtype=object)[ids] if len(ids) else np.zeros(0, object)
    else:
        cols = [classes.index(b) for b in behaviours]
        raw = (probs[:, cols] >= threshold).astype(np.int8)
        for sl in _pieces(frames):
            onoff[sl] = smooth_labels(raw[sl], **kw)
        label = _joined(onoff, behaviours)
    out = {
        "video": np.full(len(frames), str(video), dtype=object),
        "animal": np.full(len(frames), str(animal), dtype=object),
        "frame": frames,
        "time_s": frames / float(fps),
    }
    for j, c in enumerate(classes):
        out[f"prob_{c}"] = probs[:, j]
    for j, b in enumerate(behaviours):
        out[b] = onoff[:, j]
    out["label"] = label
    return pd.DataFrame(out)


def _joined(onoff: np.ndarray, behaviours: list[str]) -> np.ndarray:
    label = np.full(len(onoff), "", dtype=object)
    for j, b in enumerate(behaviours):
        on = onoff[:, j].astype(bool)
        label[on] = np.where(label[on] == "", b, label[on] + "+" + b)
    label[label == ""] = NONE
    return label


# --------------------------------------------------------------------------------------------
# bouts


def to_bouts(
    table: pd.DataFrame,
    behaviours: Sequence[str],
    *,
    fps: float,
    partners: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A frame table with 0/1 behaviour columns (predictions or frame labels) -> the Bout table.

    A bout is a run of consecutive frames of one (video, animal) with the behaviour on; a jump in
    ``frame`` ends it. ``partners``: (animal, frame, partner) rows of a feature table; a bout's
    partner is the most frequent non-empty partner over its frames (ties: the first by name),
    "" when none. Without a ``video`` column the video is "".
    """
    behaviours = list(behaviours)
    lacking = [c for c in ["animal", "frame", *behaviours] if c not in table.columns]
    if lacking:
        raise EthoflowError(f"bout table: the frame table lacks the columns {lacking}")
    t = table[[c for c in ["video", "animal", "frame", *behaviours] if c in table.columns]]
    if "video" not in t.columns:
        t = t.assign(video="")
    t = t.sort_values(["video", "animal", "frame"], kind="stable").reset_index(drop=True)
    video = t["video"].astype(str).to_numpy(dtype=object)
    animal = t["animal"].astype(str).to_numpy(dtype=object)
    frame = t["frame"].to_numpy(dtype=np.int64)
    n = len(t)
    brk = np.ones(n + 1, dtype=bool)  # brk[i]: row i starts a new piece (brk[n]: the end)
    if n > 1:
        brk[1:n] = (video[1:] != video[:-1]) | (animal[1:] != animal[:-1]) | (np.diff(frame) != 1)
    parts, rows_of = [], []
    for b in behaviours:
        on = t[b].to_numpy() > 0
        start = on & (brk[:-1] | ~np.r_[False, on[:-1]])
        end = on & (brk[1:] | ~np.r_[on[1:], False])
        s, e = np.flatnonzero(start), np.flatnonzero(end)
        parts.append(
            pd.DataFrame(
                {
                    "video": video[s],
                    "animal": animal[s],
                    "behaviour": b,
                    "start_frame": frame[s],
                    "stop_frame": frame[e] + 1,
                    "order": behaviours.index(b),
                }
            )
        )
        rows_of.append((s, e))
    bouts = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    if not len(bouts):
        return pd.DataFrame({c: pd.Series(dtype=_dtype(c)) for c in BOUT_TABLE_COLUMNS})
    bouts["partner"] = _bout_partners(t, rows_of, partners, "video" in table.columns)
    bouts["start_s"] = bouts["start_frame"] / float(fps)
    bouts["stop_s"] = bouts["stop_frame"] / float(fps)
    bouts["duration_s"] = (bouts["stop_frame"] - bouts["start_frame"]) / float(fps)
    bouts = bouts.sort_values(["video", "animal", "start_frame", "order"], kind="stable")
    return bouts[BOUT_TABLE_COLUMNS].reset_index(drop=True)


def _dtype(column: str):
    if column in ("start_frame", "stop_frame"):
        return np.int64
    return np.float64 if column.endswith("_s") else object


def _bout_partners(
    t: pd.DataFrame, rows_of: list, partners: pd.DataFrame | None, by_video: bool
) -> np.ndarray:
    """The most frequent non-empty partner per bout, in the order of the concatenated bouts."""
    n_bouts = sum(len(s) for s, _ in rows_of)
    out = np.full(n_bouts, "", dtype=object)
    if partners is None or not n_bouts:
        return out
    on = ["animal", "frame"] + (["video"] if by_video and "video" in partners.columns else [])
    p = partners[[*on, "partner"]].astype({c: str for c in on if c != "frame"})
    p = p.drop_duplicates(on)
    key = t[on].astype({c: str for c in on if c != "frame"}).merge(p, on=on, how="left")
    per_row = key["partner"].fillna("").astype(str).to_numpy(dtype=object)
    ids, names = [], []
    offset = 0
    for s, e in rows_of:
        lengths = e - s + 1
        bout_id = np.repeat(np.arange(offset, offset + len(s)), lengths)
        rows = np.repeat(s, lengths) + (
            np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        )
        ids.append(bout_id)
        names.append(per_row[rows])
        offset += len(s)
    df = pd.DataFrame({"bout": np.concatenate(ids), "partner": np.concatenate(names)})
    df = df[df["partner"] != ""]
    if not len(df):
        return out
    counts = df.groupby(["bout", "partner"]).size().reset_index(name="n")
    counts = counts.sort_values(["bout", "n", "partner"], ascending=[True, False, True])
    best = counts.drop_duplicates("bout")
    out[best["bout"].to_numpy()] = best["partner"].to_numpy(dtype=object)
    return out


# --------------------------------------------------------------------------------------------
# time budgets


def _frame_counts(n_frames, video: str | None, bouts: pd.DataFrame) -> dict[tuple, int]:
    """{(video, animal): frames} from a dict (keyed by animal or (video, animal)) or a table."""
    default = video
    if default is None:
        vids = sorted(set(bouts["video"].astype(str))) if len(bouts) else []
        default = vids[0] if len(vids) == 1 else ""
    if isinstance(n_frames, pd.DataFrame):
        t = n_frames
        if "video" not in t.columns or video is not None:
            t = t.assign(video=default)
        g = t.groupby(["video", "animal"], sort=True)["frame"].nunique()
        return {(str(v), str(a)): int(n) for (v, a), n in g.items()}
    if isinstance(n_frames, Mapping):
        out = {}
        for k, n in n_frames.items():
            key = (str(k[0]), str(k[1])) if isinstance(k, tuple) else (default, str(k))
            out[key] = int(n)
        return out
    raise EthoflowError(f"time budgets: n_frames must be a dict or a frame table, got {n_frames!r}")


def time_budgets(
    bouts: pd.DataFrame,
    *,
    n_frames,
    fps: float,
    behaviours: Sequence[str],
    video: str | None = None,
) -> pd.DataFrame:
    """Per (video, animal, behaviour): seconds, share of the animal's time, number of bouts,
    mean bout length (s, NaN without bouts) and latency (s from frame 0 to the first bout's
    start, NaN without bouts).

    ``n_frames``: {animal: frames} (or {(video, animal): frames}), or a frame table (its distinct
    frames per animal are the time observed). ``video``: the video of a per-animal dict (default:
    the bouts' one video, else "").
    """
    counts = _frame_counts(n_frames, video, bouts)
    b = bouts.assign(video=bouts["video"].astype(str), animal=bouts["animal"].astype(str))
    if video is not None:
        b = b.assign(video=str(video))
    g = b.groupby(["video", "animal", "behaviour"])
    agg = pd.DataFrame(
        {
            "seconds": g["duration_s"].sum(),
            "bouts": g.size(),
            "latency_s": g["start_s"].min(),
        }
    )
    rows = []
    for (v, a), n in counts.items():
        total = n / float(fps)
        for beh in behaviours:
            k = (v, a, beh)
            sec = float(agg.at[k, "seconds"]) if k in agg.index else 0.0
            nb = int(agg.at[k, "bouts"]) if k in agg.index else 0
            rows.append(
                {
                    "video": v,
                    "animal": a,
                    "behaviour": beh,
                    "seconds": sec,
                    "share": sec / total if total > 0 else np.nan,
                    "bouts": nb,
                    "mean_bout_s": sec / nb if nb else np.nan,
                    "latency_s": float(agg.at[k, "latency_s"]) if nb else np.nan,
                }
            )
    extra = set(zip(b["video"], b["animal"])) - set(counts)
    if extra:
        log.warning("time budgets: bouts of %s have no frame count; left out", sorted(extra))
    return pd.DataFrame(rows, columns=BUDGET_COLUMNS)


# --------------------------------------------------------------------------------------------
# export


def export_bouts(
    bouts: pd.DataFrame,
    budgets: pd.DataFrame,
    *,
    bouts_csv: PathLike | None = None,
    budgets_csv: PathLike | None = None,
    csv_dir: PathLike | None = None,
    boris_path: PathLike | None = None,
    fps: float,
    observation_id: str,
    media_file: str = "",
) -> None:
    """Write the bouts and budgets as CSV (``bouts_csv``/``budgets_csv``, or ``bouts.csv`` and
    ``budgets.csv`` in ``csv_dir``) and the bouts as a BORIS tabular events file."""
    if csv_dir is not None:
        bouts_csv = bouts_csv or Path(csv_dir) / "bouts.csv"
        budgets_csv = budgets_csv or Path(csv_dir) / "budgets.csv"
    for df, dest in ((bouts, bouts_csv), (budgets, budgets_csv)):
        if dest is not None:
            with atomic_path(dest, suffix=".csv") as tmp:
                df.to_csv(tmp, index=False)
    if boris_path is not None:
        from ethoflow.io.boris import write_boris

        write_boris(
            bouts, boris_path, fps=fps, observation_id=observation_id, media_file=media_file
        )
