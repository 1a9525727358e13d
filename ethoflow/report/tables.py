"""The report's metric tables, built from the summary table (one row per tracker x video).

A tracker's numbers are shown only for videos with ground truth; a cell with nothing to show
is a dash (see :func:`ethoflow.report.html.fmt`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ethoflow.report.html import (
    esc,
    fmt_duration,
    is_missing,
    num_cell,
    row,
    table,
    text_cell,
    truthy,
)

#: (summary column, header, integer) of the per-video table.
VIDEO_METRICS = [
    ("mota", "MOTA", False),
    ("idf1", "IDF1", False),
    ("hota", "HOTA", False),
    ("deta", "DetA", False),
    ("assa", "AssA", False),
    ("id_switches", "ID switches", True),
    ("identity_accuracy", "identity accuracy", False),
    ("misses", "misses", True),
    ("false_positives", "false positives", True),
]

#: (summary column, header, integer) of the labelled / unlabelled / touching frames table.
PART_COLUMNS = [
    ("frames_labelled", "labelled frames", True),
    ("mota_labelled", "MOTA", False),
    ("identity_accuracy_labelled", "identity acc.", False),
    ("frames_unlabelled", "unlabelled frames", True),
    ("mota_unlabelled", "MOTA", False),
    ("idf1_unlabelled", "IDF1", False),
    ("identity_accuracy_unlabelled", "identity acc.", False),
    ("frames_touching", "touching frames", True),
    ("num_objects_touching", "animals there", True),
    ("misses_touching", "misses there", True),
    ("mota_touching", "MOTA there", False),
]

MODEL_HEADER = [
    "model",
    "bbox AP",
    "bbox AP50",
    "segm AP",
    "segm AP50",
    "MOTA",
    "IDF1",
    "HOTA",
    "identity accuracy",
    "inference frames/s",
    "videos with truth",
    "training time",
    "parameters",
    "checkpoint (MB)",
]


def _lookup(summary: pd.DataFrame) -> dict[tuple[str, str], dict]:
    return {(str(r.get("model")), str(r.get("video"))): r for r in summary.to_dict("records")}


def inference_fps(rows: pd.DataFrame) -> float | None:
    """Total inference frames / total seconds over the rows that know both; None if none do."""
    if not {"infer_frames", "infer_seconds"} <= set(rows.columns):
        return None
    frames = pd.to_numeric(rows["infer_frames"], errors="coerce")
    seconds = pd.to_numeric(rows["infer_seconds"], errors="coerce")
    known = frames.notna() & seconds.notna() & np.isfinite(seconds)
    total = float(seconds[known].sum())
    return float(frames[known].sum()) / total if known.any() and total > 0 else None


def _model_row(m: str, s: pd.DataFrame, c: dict, with_truth: list[str]) -> str:
    """One model's row: ``s`` its summary rows (all videos), ``c`` its COCO results."""
    fps = inference_fps(s)  # over every video, with truth or not
    if len(s):
        scored = s["video"].astype(str).isin(with_truth)
        if "has_truth" in s.columns:
            scored &= s["has_truth"].map(truthy)
        s = s[scored]
    cells = [text_cell(m)]
    cells += [num_cell(c.get(k)) for k in ("bbox_ap", "bbox_ap50", "segm_ap", "segm_ap50")]
    for k in ("mota", "idf1", "hota", "identity_accuracy"):
        vals = pd.to_numeric(s[k], errors="coerce") if k in s.columns else pd.Series(dtype=float)
        cells.append(num_cell(vals.mean() if vals.notna().any() else None))
    cells.append(num_cell(fps, digits=1))
    cells.append(num_cell(len(s), integer=True))
    cells.append(f'<td class="num">{esc(fmt_duration(c.get("train_seconds")))}</td>')
    cells.append(num_cell(c.get("parameters"), integer=True))
    mb = c.get("checkpoint_bytes")
    cells.append(num_cell(None if is_missing(mb) else float(mb) / 1e6, digits=1))
    return row(cells)


def model_table(
    summary: pd.DataFrame, coco: dict[str, dict], models: list[str], with_truth: list[str]
) -> str:
    """One row per model: COCO AP, mean tracking metrics over the videos with truth, speed,
    training time and size."""
    rows = []
    for m in models:
        s = summary[summary["model"].astype(str) == m] if len(summary) else summary
        rows.append(_model_row(m, s, coco.get(m, {}), with_truth))
    return table(MODEL_HEADER, rows)


def video_table(
    summary: pd.DataFrame,
    trackers: list[str],
    videos: list[str],
    with_truth: list[str],
    labelled: list[str],
    links: Mapping[str, str] | None = None,
) -> str:
    """One row per tracker x video that has a summary row (every pair if the summary is
    empty); the metrics only where the video has ground truth. ``links``: video -> the URL
    of its page (the video's name links to it)."""
    header = ["model", "video", "labelled", *[h for _, h, _ in VIDEO_METRICS], "interpolated rows"]
    lookup = _lookup(summary)
    rows = []
    for m in trackers:
        for v in videos:
            r = lookup.get((m, v))
            if r is None and lookup:
                continue  # a baseline that has no output for this video
            r = r or {}
            has_truth = v in with_truth and truthy(r.get("has_truth", bool(r)))
            name = (
                f'<td><a href="{esc(links[v])}">{esc(v)}</a></td>'
                if links and v in links
                else text_cell(v)
            )
            cells = [text_cell(m), name, text_cell("yes" if v in labelled else "no")]
            if has_truth:
                cells += [num_cell(r.get(k), integer=i) for k, _, i in VIDEO_METRICS]
            else:
                cells.append(
                    f'<td class="note" colspan="{len(VIDEO_METRICS)}">no ground truth</td>'
                )
            cells.append(num_cell(r.get("interpolated_rows"), integer=True))
            rows.append(row(cells))
    return table(header, rows)


def parts_table(
    summary: pd.DataFrame, trackers: list[str], videos: list[str], with_truth: list[str]
) -> str:
    """The metrics over labelled, unlabelled and touching frames, per tracker x video with
    truth."""
    header = ["tracker", "video", *[h for _, h, _ in PART_COLUMNS]]
    lookup = _lookup(summary)
    rows = []
    for m in trackers:
        for v in videos:
            r = lookup.get((m, v))
            if r is None or v not in with_truth or not truthy(r.get("has_truth", False)):
                continue
            cells = [text_cell(m), text_cell(v)]
            cells += [num_cell(r.get(k), integer=i) for k, _, i in PART_COLUMNS]
            rows.append(row(cells))
    if not rows:
        return '<p class="muted">No video with ground truth.</p>'
    return table(header, rows)
