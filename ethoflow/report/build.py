"""The self-contained HTML report: one file, figures embedded, overlay videos linked relatively."""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from ethoflow.defaults import METRICS
from ethoflow.io import atomic_path
from ethoflow.report import sections as S
from ethoflow.report.html import page, rel_url
from ethoflow.report.inputs import ReportInputs, read_coco, read_summary, read_truth

log = logging.getLogger(__name__)


def _by_model_key(summary):
    """The summary with its model rows named ``cohort/model`` where cohorts trained them."""
    if "model_cohort" not in summary.columns or not len(summary):
        return summary
    own = (summary["kind"] == "model") & summary["model_cohort"].notna()
    keyed = summary["model_cohort"].astype(str) + "/" + summary["model"].astype(str)
    return summary.assign(model=summary["model"].where(~own, keyed))


def _groups(inputs: ReportInputs) -> str:
    if inputs.aggregate is None:
        return ""
    import pandas as pd

    from ethoflow.report.groups import groups_section

    text = {c: str for c in ("by", "a", "b", "source", "measure")}
    try:
        tests = pd.read_csv(inputs.tests, dtype=text) if inputs.tests else pd.DataFrame()
    except pd.errors.EmptyDataError:
        tests = pd.DataFrame()
    groups = pd.read_parquet(inputs.groups) if inputs.groups else pd.DataFrame()
    return groups_section(pd.read_parquet(inputs.aggregate), groups, tests)


def build_report(
    out_html: str | os.PathLike,
    inputs: ReportInputs,
    *,
    models: Sequence[str],
    videos: Sequence[str],
    identities: Sequence[str],
    with_truth: Sequence[str] = (),
    labelled: Sequence[str] = (),
    trackers: Sequence[str] | None = None,
    gates: Mapping[str, float] | None = None,
    iou_threshold: float = METRICS["iou_threshold"],
    model_keys: Sequence[str] | None = None,
    video_pages: Mapping[str, str | os.PathLike] | None = None,
) -> None:
    """Write the report of a run to ``out_html`` (atomically).

    Args:
        inputs: the files to read, keyed by what they belong to (:class:`ReportInputs`).
        models: the trained models; ``trackers``: every tracker with track tables (the models,
            then the baselines: the classical tracker, other tools' output; default: the
            models).
        with_truth, labelled: the videos with ground truth / with training labels.
        gates: per video scored on keypoint centroids, the centroid gate in pixels.
        iou_threshold: the metrics' IoU threshold; the identity timelines match at it too.
        video_pages: video -> its own page (``build_video_page``): the index links to them
            and leaves the trajectory and timeline figures to them (default: inline).
        model_keys: the trained models by name (``cohort/model`` where each cohort trains its
            own; default: ``models``): the rows of the model comparison, the training logs.
    """
    out_html = Path(out_html)
    models, videos = [str(m) for m in models], [str(v) for v in videos]
    trackers = [str(t) for t in trackers] if trackers is not None else models
    gates = {str(k): float(v) for k, v in (gates or {}).items()}
    with_truth, labelled = [str(v) for v in with_truth], [str(v) for v in labelled]
    identities = [str(i) for i in identities]
    summary = read_summary(inputs.summary_csv)
    keys = [str(k) for k in model_keys] if model_keys is not None else models
    links = (
        None
        if video_pages is None
        else {str(v): rel_url(p, out_html.parent) for v, p in video_pages.items()}
    )
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    body = [
        S.header(now, models, videos, identities, labelled, with_truth),
        S.model_comparison(_by_model_key(summary), read_coco(inputs.coco_files), keys, with_truth),
        S.per_video(summary, trackers, videos, with_truth, labelled, links),
        S.frame_parts(summary, trackers, videos, with_truth),
        S.bootstrap_masks(inputs.bootstrap),
        S.quality_checks(inputs.qa),
        S.tracks_and_timelines(
            inputs.tracks,
            read_truth(inputs.truth),
            trackers,
            videos,
            identities,
            gates,
            iou_threshold,
        )
        if links is None
        else S.video_pages(links),
        _groups(inputs),
        S.training(keys, inputs.train_logs),
        S.overlay_videos(inputs.overlays, out_html.parent),
        S.how_to_read(iou_threshold),
    ]
    doc = page(f"ethoflow report \u2014 {now}", [b for b in body if b])
    with atomic_path(out_html) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    log.info("report %s: %d models, %d videos", out_html, len(models), len(videos))
