"""The summary table: one row per tracker x video, written as CSV and Parquet.

:func:`summary_rows` joins the per-model COCO metrics, the per-video tracking metrics and a
truth-free description of each track table; :func:`write_summary` writes the rows. The caller
says which file holds what: COCO and per-video metric files name their ``model`` (and
``video``) in their content, track tables are given as a ``{(tracker, video): path}`` mapping, so
nothing here depends on where a workflow keeps its files.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from ethoflow.evaluation.video import PART_METRICS
from ethoflow.io import atomic_path, read_json
from ethoflow.io.tracktable import read_stats

_TEXT_COLUMNS = ("model", "video", "kind", "match")


def write_summary(
    rows: list[dict], csv_path: str | os.PathLike, parquet_path: str | os.PathLike
) -> pd.DataFrame:
    """Write metric rows as CSV and Parquet (each atomically); columns ``model, video, ...``.

    A metric column holding numbers and None (a metric that is undefined for some rows, or for
    all of them: identity accuracy without a single match) is float64 with NaN, so the Parquet
    schema does not depend on which rows happen to be there."""
    df = pd.DataFrame(rows)
    for c in df.columns:
        if c in _TEXT_COLUMNS or df[c].dtype != object:
            continue
        values = df[c].tolist()
        if all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        ):
            df[c] = pd.to_numeric(df[c], errors="coerce").astype("float64")
    first = [c for c in ("model", "video") if c in df.columns]
    df = df[first + [c for c in df.columns if c not in first]]
    with atomic_path(csv_path) as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(parquet_path) as tmp:
        df.to_parquet(tmp, index=False)
    return df


SUMMARY_METRICS = [
    "mota",
    "idf1",
    "hota",
    "deta",
    "assa",
    "id_switches",
    "identity_accuracy",
    "misses",
    "false_positives",
    "precision",
    "recall",
    "motp",
]


def _infer_columns(stats: dict) -> dict:
    """Track-table statistics -> ``infer_frames, infer_seconds, infer_fps`` (None if unknown)."""
    try:
        frames, seconds = int(stats["infer_frames"]), float(stats["infer_seconds"])
    except (KeyError, TypeError, ValueError):
        return {"infer_frames": None, "infer_seconds": None, "infer_fps": None}
    fps = frames / seconds if math.isfinite(seconds) and seconds > 0 else None
    return {"infer_frames": frames, "infer_seconds": seconds, "infer_fps": fps}


def _track_shape(t: pd.DataFrame) -> dict:
    """Truth-free description of a track table: ``detection_rate`` (detected identity-frames
    over identities x frames spanned) and ``area_cv`` (std / mean of each identity's detected
    mask area, mean over identities; None without masks)."""
    det = t[t["source"] == "detected"]
    if not len(t) or not len(det):
        return {"detection_rate": 0.0 if len(t) else None, "area_cv": None}
    n_frames = int(t["frame"].max()) - int(t["frame"].min()) + 1
    ids = t["identity"].unique()
    rate = len(det) / (n_frames * len(ids))
    cvs = []
    for _, g in det.groupby("identity"):
        a = g["area"].to_numpy(float)
        if len(a) > 1 and a.mean() > 0:
            cvs.append(float(a.std() / a.mean()))
    return {"detection_rate": float(rate), "area_cv": float(np.mean(cvs)) if cvs else None}


#: The track-table columns of a (tracker, video) pair without a track table.
_NO_TRACKS = {
    "track_rows": 0,
    "interpolated_rows": 0,
    "detection_rate": None,
    "area_cv": None,
    **_infer_columns({}),
}


def _track_columns(path: str | os.PathLike) -> dict:
    """The summary columns that come from one track table (keys as in :data:`_NO_TRACKS`)."""
    t = pq.read_table(path, columns=["frame", "identity", "area", "source"]).to_pandas()
    return {
        "track_rows": len(t),
        "interpolated_rows": int((t["source"] == "interpolated").sum()),
        **_track_shape(t),
        **_infer_columns(read_stats(path)),
    }


def summary_rows(
    coco_files: Iterable[str | os.PathLike],
    track_files: Mapping[tuple[str, str], str | os.PathLike],
    video_metric_files: Iterable[str | os.PathLike],
    models: list[str],
    videos: list[str],
    labelled: list[str],
    pairs: list[tuple[str, str]] | None = None,
) -> list[dict]:
    """One row per tracker x video from the per-model COCO and per-video tracking metrics.

    ``coco_files`` (from ``evaluate_coco``) are matched to their tracker by the ``model`` field
    they hold, ``video_metric_files`` (:func:`ethoflow.evaluation.video.evaluate_video` results)
    by their ``model`` and ``video`` fields. ``track_files`` maps ``(tracker, video)`` to that
    pair's track table; its paths say nothing about the pair.

    ``pairs`` lists the (tracker, video) rows, trackers being the trained ``models`` and the
    baselines beside them (the classical tracker, other tools' output); default: every model x
    every video. ``kind`` says which: ``model``, ``classical`` or ``external``. A pair without a
    track table has ``track_rows`` 0.

    ``infer_frames``, ``infer_seconds`` and ``infer_fps`` (frames / seconds) come from the track
    table's schema metadata (:func:`ethoflow.io.tracktable.read_stats`); None when it has none.
    Per-part metrics (``{metric}_{labelled|unlabelled|touching}``) come from
    :func:`~ethoflow.evaluation.video.evaluate_video`. Without truth, ``detection_rate`` (frames
    where an identity is detected, mean over identities) and ``area_cv`` (coefficient of
    variation of each identity's mask area, mean over identities) still describe the tracks.
    """
    if not isinstance(track_files, Mapping):
        raise TypeError(
            "track_files must map (tracker, video) to a track table path, "
            f"not {type(track_files).__name__}"
        )
    coco = {}
    for f in coco_files:
        d = read_json(f)
        coco[d["model"]] = d
    per_video = {}
    for f in video_metric_files:
        d = read_json(f)
        per_video[(d["model"], d["video"])] = d
    tracks = {(m, v): _track_columns(f) for (m, v), f in track_files.items()}
    if pairs is None:
        pairs = [(m, v) for m in models for v in videos]
    rows = []
    for m, v in pairs:
        c = coco.get(m, {})
        kind = "model" if m in models else ("classical" if m == "classical" else "external")
        row = {"model": m, "video": v, "kind": kind, "labelled": v in labelled}
        for k in ("bbox_ap", "bbox_ap50", "segm_ap", "segm_ap50"):
            row[f"coco_{k}"] = c.get(k)
        vm = per_video.get((m, v), {})
        row["has_truth"] = bool(vm)
        row["match"] = vm.get("match")
        for k in SUMMARY_METRICS:
            row[k] = vm.get(k)
        for part in ("labelled", "unlabelled", "touching"):
            row[f"frames_{part}"] = vm.get(f"frames_{part}")
            for k in PART_METRICS:
                row[f"{k}_{part}"] = vm.get(f"{k}_{part}")
        row.update(tracks.get((m, v), _NO_TRACKS))
        for k in ("train_seconds", "parameters", "checkpoint_bytes"):
            row[k] = c.get(k)
        rows.append(row)
    return rows


def cohort_summary_rows(
    coco_files: Mapping[tuple[str, str], str | os.PathLike],
    track_files: Mapping[tuple[str, str], str | os.PathLike],
    video_metric_files: Iterable[str | os.PathLike],
    models: list[str],
    video_cohorts: Mapping[str, str],
    labelled: list[str],
    pairs: list[tuple[str, str]],
) -> list[dict]:
    """:func:`summary_rows` where each cohort trains its own models: ``coco_files`` maps
    ``(cohort, model)`` to that model's COCO results, ``video_cohorts`` each video to the cohort
    whose models infer it. Every row gets a ``model_cohort`` column (the cohort that trained
    the row's model: for a video of a ``model_from`` cohort, the lending one)."""
    metric_files = list(video_metric_files)
    rows = []
    for cohort in sorted(set(video_cohorts.values())):
        mine = [p for p in pairs if video_cohorts.get(p[1]) == cohort]
        part = summary_rows(
            coco_files=[f for (c, _), f in coco_files.items() if c == cohort],
            track_files={p: f for p, f in track_files.items() if p in set(mine)},
            video_metric_files=metric_files,
            models=models,
            videos=sorted({v for _, v in mine}),
            labelled=labelled,
            pairs=mine,
        )
        rows += [{**r, "model_cohort": cohort} for r in part]
    return rows
