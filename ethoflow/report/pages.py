"""One report page per video (rule ``report_video``, one job each, in parallel): the video's
metrics per tracker, its quality checks, trajectory and identity-timeline figures and overlay
videos. The index (:func:`ethoflow.report.build_report` with ``video_pages``) links to them
and holds no per-video figure, so it stays small however many videos a run has.

A page reads only its own video's files (tracks, truth, per-video metrics, QA tables), so
adding a video or editing another one never rebuilds it."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ethoflow.defaults import METRICS
from ethoflow.io import atomic_path, read_json
from ethoflow.report import sections as S
from ethoflow.report.html import esc, note, num_cell, page, rel_url, row, table, text_cell
from ethoflow.report.inputs import PathLike, read_truth
from ethoflow.report.tables import VIDEO_METRICS

log = logging.getLogger(__name__)


def _metrics_table(metrics: Mapping[str, PathLike], trackers: Sequence[str]) -> str:
    header = ["tracker", *[h for _, h, _ in VIDEO_METRICS]]
    rows = []
    for m in trackers:
        if m not in metrics:
            continue
        d = read_json(metrics[m])
        rows.append(
            row([text_cell(m)] + [num_cell(d.get(k), integer=i) for k, _, i in VIDEO_METRICS])
        )
    return table(header, rows) if rows else note("No ground truth for this video.")


def build_video_page(
    out_html: str | os.PathLike,
    *,
    video: str,
    tracks: Mapping[str, PathLike],
    identities: Sequence[str],
    truth: PathLike | None = None,
    metrics: Mapping[str, PathLike] | None = None,
    qa: Mapping[str, PathLike] | None = None,
    overlays: Sequence[tuple[str, PathLike]] = (),
    gate: float | None = None,
    iou_threshold: float = METRICS["iou_threshold"],
    index_html: str | os.PathLike | None = None,
) -> None:
    """Write one video's page to ``out_html`` (atomically).

    Args:
        tracks: tracker -> this video's track table, in the order shown.
        truth: the video's ground truth (a track table), if any.
        metrics: tracker -> its per-video metrics JSON (``evaluate_tracks``), where scored.
        qa: model -> the QA table of its tracks.
        overlays: (model, mp4) of the video's overlay videos, linked relative to the page.
        gate: the centroid gate (px) when the video is scored on keypoint centroids.
        index_html: the run's index, linked back to.
    """
    out_html = Path(out_html)
    html_dir = out_html.parent
    truth_df = read_truth({video: truth}).get(video) if truth else None
    back = (
        f'<p><a href="{esc(rel_url(index_html, html_dir))}">\u2190 run report</a></p>'
        if index_html
        else ""
    )
    body = [
        f"{back}<h1>{esc(video)}</h1>",
        f'<dl class="meta"><dt>Trackers</dt><dd>{esc(", ".join(tracks))}</dd>'
        f"<dt>Identities</dt><dd>{esc(', '.join(identities))}</dd></dl>",
        '<h2 id="metrics">Metrics</h2>',
        _metrics_table(metrics or {}, list(tracks)),
    ]
    if qa:
        body.append(S.quality_checks(dict(qa)))
    body.append(
        S.tracks_and_timelines(
            {(m, video): p for m, p in tracks.items()},
            {video: truth_df} if truth_df is not None else {},
            list(tracks),
            [video],
            list(identities),
            {video: gate} if gate else {},
            iou_threshold,
        )
    )
    if overlays:
        body.append(S.overlay_videos([(m, video, p) for m, p in overlays], html_dir))
    body.append(S.how_to_read(iou_threshold))
    with atomic_path(out_html) as tmp:
        tmp.write_text(page(f"ethoflow \u2014 {video}", body), encoding="utf-8")
    log.info("page %s: %d trackers", out_html, len(tracks))
