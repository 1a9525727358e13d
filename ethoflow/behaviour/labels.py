"""Behaviour labels: any supported label file -> the frame label table (one row per animal and
frame: ``animal``, ``frame``, ``scored``, one int8 0/1 column per behaviour).

Reading: :func:`read_labels` dispatches on the format (``bouts``, ``frames``, ``boris``,
``bento``, ``simba``) to the readers in ``ethoflow.io`` that return the raw bout table
(``ethoflow.io.bouts.BOUT_COLUMNS``).

From bouts to frames (:func:`frame_labels`), as set by a :class:`LabelSpec`:

- every bout's ``type`` is a behaviour (``mapping`` first, then a name equal to a behaviour),
  an ignored type (``ignore``, counted), or a span marker (``span_types``); anything else is an
  error naming the file and the row;
- frame ``i`` covers ``[i / fps, (i + 1) / fps)`` and is labelled ``b`` when its start time
  ``i / fps`` lies in a ``b`` bout ``[start_s, stop_s)``. (This reproduces the open-field
  raters' pairwise F1 for supported rearing of the shared OFT_44 file: 0.851, 0.874, 0.848 over
  its 1,998 frames.) A point event (``start_s == stop_s``) labels the frame containing it;
- the scored span of a rater runs from the first span marker's start to the last one's stop
  (``[start, stop)`` by the same rule); without markers the whole video is scored. Frames
  outside are ``scored`` False (labels are kept, but nothing downstream reads them);
- a bout starting before time 0 is an error; a bout running past the end of the video
  (``n_frames / fps``) is clipped, one starting at or after the end is dropped; both counted;
- subject "" is the only animal (an error with several animals); other subjects must be one
  of ``animals``;
- exclusive sets: overlapping bouts of different behaviours are resolved by ``overlap``
  (``first`` / ``last``: the earlier / later starting bout keeps the shared frames;
  ``longest``: the longer one; ``priority``: the one whose behaviour comes first in
  ``behaviours``), each bout that loses frames counted in ``overlaps_resolved``;
- several raters: ``raters="majority"`` votes per frame (:func:`majority_vote`), a rater's
  name picks that rater, ``None`` requires a single rater.

:func:`agreement` gives pairwise per-frame precision / recall / F1 between raters' tables on
the frames both scored.
"""

from __future__ import annotations

import itertools
import logging
import os
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ethoflow.io.bento import read_bento
from ethoflow.io.boris import read_boris
from ethoflow.io.bouts import BehaviourLabelError, check_bouts, read_bout_csv, read_frame_csv
from ethoflow.io.simba import read_simba

log = logging.getLogger(__name__)

FORMATS = ("bouts", "frames", "boris", "bento", "simba")
OVERLAP_RULES = ("first", "last", "longest", "priority")
KEY_COLUMNS = ["animal", "frame", "scored"]
COUNT_KEYS = ("clipped", "dropped_past_end", "overlaps_resolved", "ignored")


@dataclass
class LabelSpec:
    """How a label file's types become behaviours (see the module docstring)."""

    behaviours: list[str]
    mapping: dict[str, str] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=list)
    span_types: list[str] = field(default_factory=list)
    exclusive: bool = False
    overlap: str = "priority"
    raters: str | None = "majority"

    def __post_init__(self):
        self.behaviours = list(self.behaviours)
        if not self.behaviours or len(set(self.behaviours)) != len(self.behaviours):
            raise BehaviourLabelError(f"behaviours must be distinct names: {self.behaviours}")
        if self.overlap not in OVERLAP_RULES:
            raise BehaviourLabelError(
                f"overlap must be one of {list(OVERLAP_RULES)}, not {self.overlap!r}"
            )
        bad = {k: v for k, v in self.mapping.items() if v not in self.behaviours}
        if bad:
            raise BehaviourLabelError(
                f"mapping {bad} targets names that are not behaviours {self.behaviours}"
            )

    def kind(self, type_: str) -> tuple[str, str | None]:
        """("behaviour", name) | ("ignore", None) | ("span", None) | ("unknown", None)."""
        if type_ in self.mapping:
            return "behaviour", self.mapping[type_]
        if type_ in self.behaviours:
            return "behaviour", type_
        if type_ in self.ignore:
            return "ignore", None
        if type_ in self.span_types:
            return "span", None
        return "unknown", None


def read_labels(
    path: str | os.PathLike, fmt: str, *, fps: float | None, behaviours: list[str] | None = None
) -> pd.DataFrame:
    """Read a label file of format ``fmt`` (one of :data:`FORMATS`) -> the raw bout table.
    ``fps`` is needed by the per-frame formats, ``behaviours`` by SimBA (its column names)."""
    if fmt == "bouts":
        return read_bout_csv(path)
    if fmt == "frames":
        return read_frame_csv(path, fps)
    if fmt == "boris":
        return read_boris(path)
    if fmt == "bento":
        return read_bento(path)
    if fmt == "simba":
        if not behaviours:
            raise BehaviourLabelError(f"{path}: SimBA files need the behaviour (column) names")
        return read_simba(path, list(behaviours), fps)
    raise BehaviourLabelError(f"{path}: unknown label format {fmt!r} (one of {list(FORMATS)})")


def _where(b) -> str:
    return f"{b.file}: row {b.row}"


def _animal(subject: str, b, animals: list[str]) -> str:
    if subject == "":
        if len(animals) == 1:
            return animals[0]
        raise BehaviourLabelError(
            f"{_where(b)}: {b.type!r} has no subject, and the video has {len(animals)} animals "
            f"{animals}"
        )
    if subject not in animals:
        raise BehaviourLabelError(
            f"{_where(b)}: subject {subject!r} is not an animal of the video {animals}"
        )
    return subject


def _frame_range(start: float, stop: float, times: np.ndarray) -> tuple[int, int]:
    """[first, end) of the frames whose start time lies in [start, stop); a point event: the
    frame containing it."""
    if stop == start:
        i = int(np.searchsorted(times, start, side="right")) - 1
        return i, i + 1
    return int(np.searchsorted(times, start, "left")), int(np.searchsorted(times, stop, "left"))


def _classify(bouts: pd.DataFrame, spec: LabelSpec, n_frames: int, fps: float, animals, counts):
    """The bouts as (animal, behaviour index, first, end, start_s, duration, row) and the span
    markers as (start_s, stop_s); validates and counts."""
    end_s = n_frames / fps
    times = np.arange(n_frames) / fps
    items, spans = [], []
    for b in bouts.itertuples(index=False):
        kind, name = spec.kind(str(b.type))
        if kind == "unknown":
            known = sorted(set(spec.behaviours) | set(spec.mapping) | set(spec.ignore))
            raise BehaviourLabelError(
                f"{_where(b)}: unknown behaviour type {b.type!r} (not a behaviour, mapped, "
                f"ignored or a span type; known: {known + sorted(spec.span_types)})"
            )
        if b.start_s < 0:
            raise BehaviourLabelError(
                f"{_where(b)}: {b.type!r} starts at {b.start_s:g} s, before the video (time 0)"
            )
        if kind == "ignore":
            counts["ignored"] += 1
            continue
        if kind == "span":
            spans.append((float(b.start_s), float(b.stop_s)))
            continue
        animal = _animal(str(b.subject), b, animals)
        if b.start_s >= end_s:
            counts["dropped_past_end"] += 1
            continue
        if b.stop_s > end_s:
            counts["clipped"] += 1
        first, end = _frame_range(float(b.start_s), min(float(b.stop_s), end_s), times)
        end = min(end, n_frames)
        if end <= first:
            continue
        items.append(
            (
                animal,
                spec.behaviours.index(name),
                first,
                end,
                float(b.start_s),
                float(b.stop_s - b.start_s),
                int(b.row),
            )
        )
    return items, spans


def _precedence(item, rule: str):
    """Sort key: bouts painted later (larger key) keep shared frames."""
    _, beh, _, _, start, duration, row = item
    if rule == "priority":
        return (-beh, -start, -row)
    if rule == "first":
        return (-start, -row)
    if rule == "last":
        return (start, row)
    return (duration, -start, -row)  # longest


def _paint(items, spec: LabelSpec, n_frames: int, counts) -> np.ndarray:
    """(n_frames, n_behaviours) int8 labels of one animal's bouts."""
    nb = len(spec.behaviours)
    labels = np.zeros((n_frames, nb), dtype=np.int8)
    if not spec.exclusive:
        for _, beh, first, end, *_ in items:
            labels[first:end, beh] = 1
        return labels
    owner = np.full(n_frames, -1, dtype=np.int64)
    for _, beh, first, end, *_ in sorted(items, key=lambda it: _precedence(it, spec.overlap)):
        owner[first:end] = beh
    for _, beh, first, end, *_ in items:
        if np.any(owner[first:end] != beh):
            counts["overlaps_resolved"] += 1
    on = owner >= 0
    labels[np.flatnonzero(on), owner[on]] = 1
    return labels


def _single_rater(bouts, spec, n_frames, fps, animals) -> tuple[pd.DataFrame, dict]:
    counts = dict.fromkeys(COUNT_KEYS, 0)
    items, spans = _classify(bouts, spec, n_frames, fps, animals, counts)
    times = np.arange(n_frames) / fps
    if spans:
        s0, s1 = min(s for s, _ in spans), max(e for _, e in spans)
        scored = (times >= s0) & (times < s1)
    else:
        scored = np.ones(n_frames, dtype=bool)
    parts = []
    for animal in animals:
        labels = _paint([it for it in items if it[0] == animal], spec, n_frames, counts)
        part = pd.DataFrame(
            {
                "animal": pd.Series([animal] * n_frames, dtype=str),
                "frame": np.arange(n_frames, dtype=np.int64),
                "scored": scored.copy(),
            }
        )
        for k, b in enumerate(spec.behaviours):
            part[b] = labels[:, k]
        parts.append(part)
    table = pd.concat(parts, ignore_index=True) if parts else _empty_table(spec.behaviours)
    return table, counts


def _empty_table(behaviours: list[str]) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "animal": pd.Series([], dtype=str),
            "frame": pd.Series([], dtype=np.int64),
            "scored": pd.Series([], dtype=bool),
        }
    )
    for b in behaviours:
        df[b] = pd.Series([], dtype=np.int8)
    return df


def frame_labels(
    bouts: pd.DataFrame,
    spec: LabelSpec,
    *,
    n_frames: int,
    fps: float,
    animals: list[str],
) -> tuple[pd.DataFrame, dict]:
    """The frame label table of a raw bout table and the counts (``clipped``,
    ``dropped_past_end``, ``overlaps_resolved``, ``ignored``; summed over raters when they are
    combined by majority). A table of one rater gives that rater's labels whatever
    ``spec.raters`` says; several raters are combined as ``spec.raters`` says."""
    if fps is None or fps <= 0:
        raise BehaviourLabelError(f"frame labels need fps > 0 (got {fps})")
    animals = [str(a) for a in animals]
    if not animals:
        raise BehaviourLabelError("frame labels need at least one animal")
    check_bouts(bouts)
    raters = sorted(set(bouts["rater"].astype(str)))
    files = sorted(set(bouts["file"].astype(str)))
    where = ", ".join(files) or "labels"
    if len(raters) > 1:
        if spec.raters == "majority":
            tables, all_counts = {}, dict.fromkeys(COUNT_KEYS, 0)
            for r in raters:
                tables[r], c = _single_rater(
                    bouts[bouts["rater"] == r], spec, n_frames, fps, animals
                )
                for k in COUNT_KEYS:
                    all_counts[k] += c[k]
            _log_counts(where, "majority", all_counts)
            return majority_vote(tables), all_counts
        if spec.raters is None:
            raise BehaviourLabelError(
                f"{where}: several raters {raters}: choose one (raters: <name>) or 'majority'"
            )
        if spec.raters not in raters:
            raise BehaviourLabelError(
                f"{where}: rater {spec.raters!r} is not one of the file's raters {raters}"
            )
        bouts = bouts[bouts["rater"] == spec.raters]
    table, counts = _single_rater(bouts, spec, n_frames, fps, animals)
    _log_counts(where, raters[0] if len(raters) == 1 else spec.raters, counts)
    return table, counts


def _log_counts(where: str, rater, counts: dict) -> None:
    if counts["clipped"] or counts["dropped_past_end"]:
        log.info(
            "%s (rater %r): %d bouts clipped at the end of the video, %d starting past it dropped",
            where,
            rater,
            counts["clipped"],
            counts["dropped_past_end"],
        )
    if counts["overlaps_resolved"] or counts["ignored"]:
        log.info(
            "%s (rater %r): %d overlapping bouts resolved, %d ignored",
            where,
            rater,
            counts["overlaps_resolved"],
            counts["ignored"],
        )


def _behaviour_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in KEY_COLUMNS and c != "reference"]


def _aligned(tables: dict[str, pd.DataFrame]) -> list[pd.DataFrame]:
    items = list(tables.items())
    ref = items[0][1]
    out = []
    for name, t in items:
        if len(t) != len(ref) or not (
            np.array_equal(t["frame"].to_numpy(), ref["frame"].to_numpy())
            and np.array_equal(t["animal"].astype(str).to_numpy(), ref["animal"].astype(str))
        ):
            raise BehaviourLabelError(
                f"rater {name!r}: its frame label table has other animals/frames than "
                f"{items[0][0]!r}'s"
            )
        out.append(t.reset_index(drop=True))
    return out


def majority_vote(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One table from several raters' (same animals and frames): a behaviour is on where more
    than half the raters have it on; a frame is scored where every rater scored it."""
    if not tables:
        raise BehaviourLabelError("majority vote of no raters")
    aligned = _aligned(tables)
    ref = aligned[0]
    behaviours = _behaviour_columns(ref)
    out = ref[["animal", "frame"]].copy()
    out["scored"] = np.logical_and.reduce([t["scored"].to_numpy(bool) for t in aligned])
    n = len(aligned)
    for b in behaviours:
        votes = np.sum([t[b].to_numpy(np.int64) for t in aligned], axis=0)
        out[b] = (2 * votes > n).astype(np.int8)
    return out


def agreement(tables: dict[str, pd.DataFrame], behaviours: list[str]) -> pd.DataFrame:
    """Pairwise per-frame agreement: per pair of raters (in the order given) and behaviour,
    on the frames both scored, ``f1``, ``precision`` (of ``rater_b`` against ``rater_a``),
    ``recall`` and ``n_frames`` (frames both scored); NaN where undefined."""
    cols = ["rater_a", "rater_b", "behaviour", "f1", "precision", "recall", "n_frames"]
    if len(tables) < 2:
        return pd.DataFrame(columns=cols)
    aligned = dict(zip(tables, _aligned(tables)))
    rows = []
    for a, b in itertools.combinations(aligned, 2):
        ta, tb = aligned[a], aligned[b]
        both = ta["scored"].to_numpy(bool) & tb["scored"].to_numpy(bool)
        for beh in behaviours:
            x = ta[beh].to_numpy()[both] == 1
            y = tb[beh].to_numpy()[both] == 1
            tp, na, nb = int((x & y).sum()), int(x.sum()), int(y.sum())
            rows.append(
                dict(
                    rater_a=a,
                    rater_b=b,
                    behaviour=beh,
                    f1=2 * tp / (na + nb) if na + nb else float("nan"),
                    precision=tp / nb if nb else float("nan"),
                    recall=tp / na if na else float("nan"),
                    n_frames=int(both.sum()),
                )
            )
    return pd.DataFrame(rows, columns=cols)
