"""The sections of the report, one function each, in page order; each returns its HTML.

A section with nothing to show either says so (a muted note) or, for the optional ones (masks
from keypoints, quality checks), returns an empty string and is left out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from ethoflow.io import tracktable
from ethoflow.io.images import data_uri
from ethoflow.report.figures import loss_figure, timeline_figure, trajectory_figure
from ethoflow.report.html import (
    DASH,
    HOW_TO_READ,
    esc,
    figs,
    fmt,
    fmt_threshold,
    img,
    note,
    num_cell,
    rel_url,
    row,
    table,
    text_cell,
)
from ethoflow.report.inputs import PathLike, read_train_log
from ethoflow.report.tables import model_table, parts_table, video_table

NAV = [
    ("models", "Per-model comparison"),
    ("videos", "Per-video metrics"),
    ("tracks", "Trajectories and timelines"),
    ("groups", "Groups"),
    ("training", "Training"),
    ("overlays", "Overlay videos"),
    ("howto", "How to read this"),
]

QA_CHECKS = ("overlap", "area", "missing", "duplicate", "jump")


def _h2(anchor: str, title: str) -> str:
    return f'<h2 id="{anchor}">{esc(title)}</h2>'


def header(
    now: str,
    models: Sequence[str],
    videos: Sequence[str],
    identities: Sequence[str],
    labelled: Sequence[str],
    with_truth: Sequence[str],
) -> str:
    """Title, what the run was (``now``: its date) and the links to the main sections."""
    shown = ", ".join(videos[:12]) + (f" \u2026 ({len(videos)} videos)" if len(videos) > 12 else "")
    meta = [
        ("Run date", now),
        ("Models", ", ".join(models)),
        ("Videos", shown),
        ("Identities", ", ".join(identities)),
        ("Labelled", ", ".join(labelled)),
        ("With truth", ", ".join(with_truth)),
    ]
    dl = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v) or DASH}</dd>\n" for k, v in meta)
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in NAV)
    return f'<h1>ethoflow report</h1>\n<dl class="meta">\n{dl}</dl>\n<nav>{nav}</nav>'


def model_comparison(
    summary: pd.DataFrame, coco: dict[str, dict], models: list[str], with_truth: list[str]
) -> str:
    return "\n".join(
        [
            _h2("models", "Per-model comparison"),
            note(
                "COCO AP on the validation frames; MOTA, IDF1, HOTA and identity accuracy are "
                "means over the videos with ground truth; inference frames/s is all of the "
                "model's frames over the summed inference time of its shards (decoding, "
                "forward pass and mask encoding) over every video."
            ),
            model_table(summary, coco, models, with_truth),
        ]
    )


def per_video(
    summary: pd.DataFrame,
    trackers: list[str],
    videos: list[str],
    with_truth: list[str],
    labelled: list[str],
    links: Mapping[str, str] | None = None,
) -> str:
    return "\n".join(
        [
            _h2("videos", "Per-video metrics"),
            note(
                "Every tracker on every video: the trained models, the classical baseline "
                "(threshold, connected components, nearest-neighbour linking) and other tools' "
                "output where the config gives it. Videos scored on keypoint labels match on "
                "centroid distance (a prediction counts within the gate), the others on mask "
                "IoU."
            ),
            video_table(summary, trackers, videos, with_truth, labelled, links),
        ]
    )


def frame_parts(
    summary: pd.DataFrame, trackers: list[str], videos: list[str], with_truth: list[str]
) -> str:
    return "\n".join(
        [
            '<h3 id="parts">Seen, unseen and touching frames</h3>',
            note(
                "The same metrics over the frames that were labelled for training, over all "
                "other frames, and over the frames where truth animals touch (mask truth only): "
                "misses there show a tracker that cannot split touching animals."
            ),
            parts_table(summary, trackers, videos, with_truth),
        ]
    )


def _bootstrap_stats(stats: Path) -> str:
    """One sentence on a bootstrap folder's ``bootstrap.csv`` ("" if there is nothing)."""
    if not stats.exists():
        return ""
    try:
        b = pd.read_csv(stats)
    except pd.errors.EmptyDataError:
        return ""
    if not len(b):
        return ""
    flagged = b["flags"].fillna("").astype(str).str.len().gt(0).sum()
    inside = pd.to_numeric(b.get("keypoints_inside"), errors="coerce")
    return (
        f"<p>{b['name'].nunique()} frames, {len(b)} masks; mean fraction of keypoints inside "
        f"their mask {fmt(inside.mean())}; {int(flagged)} masks flagged.</p>"
    )


def bootstrap_masks(folders: Mapping[str, PathLike], limit: int = 12) -> str:
    """Masks made from keypoints: per video (``folders``: video -> the bootstrap step's
    folder), its statistics and up to ``limit`` of its overlay pictures. "" without folders."""
    if not folders:
        return ""
    out = [
        _h2("bootstrap", "Masks from keypoints"),
        note(
            "Instance masks made from keypoint labels (foreground from a background model, "
            "split between animals by a watershed seeded at each identity's keypoints), as "
            "they enter training. Dots are the keypoints."
        ),
    ]
    for video, folder in folders.items():
        folder = Path(folder)
        out.append(f"<h3>{esc(video)}</h3>")
        stats = _bootstrap_stats(folder / "bootstrap.csv")
        if stats:
            out.append(stats)
        pngs = sorted((folder / "overlays").glob("*.png"))[:limit]
        if pngs:
            out.append(
                figs([img(data_uri(f.read_bytes()), f"bootstrapped masks {f.stem}") for f in pngs])
            )
    return "\n".join(out)


def _qa_row(name: str, path: PathLike) -> str:
    try:
        q = pd.read_parquet(path)
    except Exception as e:  # a report must not die on one unreadable table
        return f'<tr><td>{esc(name)}</td><td class="note" colspan="6">{esc(e)}</td></tr>'
    counts = q["check"].value_counts() if len(q) else pd.Series(dtype=int)
    cells = [text_cell(name), num_cell(q["frame"].nunique() if len(q) else 0, integer=True)]
    cells += [num_cell(int(counts.get(k, 0)), integer=True) for k in QA_CHECKS]
    return row(cells)


def quality_checks(files: Mapping[str, PathLike]) -> str:
    """Frames flagged per QA table (``files``: name shown -> table). "" without tables."""
    if not files:
        return ""
    header = ["table", "frames flagged", *QA_CHECKS]
    return "\n".join(
        [
            _h2("qa", "Label and track quality checks"),
            note(
                "Frames that fail a consistency check (two identities overlap, an area leaves "
                "its usual range, an identity is missing or doubled, a centroid jumps). Each "
                "table has a review queue beside it: LabelMe files pre-filled with the masks "
                "of the flagged frames; correct them in LabelMe and copy them into the video's "
                "labels folder, and the next run retrains with them."
            ),
            table(header, [_qa_row(name, path) for name, path in files.items()]),
        ]
    )


def _pair_figures(
    m: str,
    v: str,
    pred: pd.DataFrame,
    truth: pd.DataFrame | None,
    identities: Sequence[str],
    gate: float | None,
    iou_threshold: float,
) -> str:
    traj = trajectory_figure(pred, truth, identities, f"{m} / {v}: trajectories")
    tl = timeline_figure(
        pred,
        truth,
        identities,
        f"{m} / {v}: identity timeline",
        gate=gate,
        iou_threshold=iou_threshold,
    )
    missing = "" if truth is not None else note("No ground truth for this video.")
    return missing + figs(
        [img(traj, f"trajectories {m} {v}"), img(tl, f"identity timeline {m} {v}")]
    )


def tracks_and_timelines(
    tracks: Mapping[tuple[str, str], PathLike],
    truth: Mapping[str, pd.DataFrame],
    trackers: list[str],
    videos: list[str],
    identities: list[str],
    gates: Mapping[str, float],
    iou_threshold: float,
) -> str:
    """Trajectory and identity timeline figures of every (tracker, video) in ``tracks``.

    ``gates``: per video scored on keypoint centroids, the centroid gate in pixels.
    """
    tracks = {(str(m), str(v)): path for (m, v), path in tracks.items()}
    iou = fmt_threshold(iou_threshold)
    out = [
        _h2("tracks", "Trajectories and identity timelines"),
        note(
            "Trajectories: centroid per identity in image coordinates (solid: prediction, "
            "\u00d7: interpolated, dashed and faint: ground truth). Timelines: per identity and "
            "frame, detected / interpolated / missing; with ground truth, the lower strip is "
            "red where the predicted mask of that identity does not match its truth mask "
            f"(IoU &lt; {iou}) or one of them is absent."
        ),
    ]
    for m in trackers:
        for v in videos:
            path = tracks.get((m, v))
            if path is None:
                continue
            out.append(f"<h3>{esc(m)} \u2014 {esc(v)}</h3>")
            pred = tracktable.read(path)  # one table at a time: they can be large
            t = truth.get(v)
            if not len(pred) and (t is None or not len(t)):
                out.append(note("The track table is empty."))
                continue
            out.append(_pair_figures(m, v, pred, t, identities, gates.get(v), iou_threshold))
            del pred
    return "\n".join(out)


def video_pages(links: Mapping[str, str]) -> str:
    """Links to the per-video pages (their trajectories, timelines, QA and overlays)."""
    items = "".join(f'<li><a href="{esc(u)}">{esc(v)}</a></li>' for v, u in links.items())
    return "\n".join(
        [
            _h2("tracks", "Per-video pages"),
            note(
                "Each video has its own page with its trajectories, identity timelines, "
                "quality checks and overlay videos."
            ),
            f'<ul class="pages">{items}</ul>',
        ]
    )


def training(models: list[str], train_logs: Mapping[str, PathLike]) -> str:
    """The training loss curves of every model (``train_logs``: model -> its log)."""
    train_logs = {str(m): path for m, path in train_logs.items()}
    out = [_h2("training", "Training")]
    for m in models:
        out.append(f"<h3>{esc(m)}</h3>")
        path = train_logs.get(m)
        if path is None:
            out.append(note("No training log."))
            continue
        uri = loss_figure(read_train_log(path), f"{m}: training loss")
        if uri is None:
            out.append(note("The training log has no loss values."))
        else:
            out.append(figs([img(uri, f"training loss {m}")]))
    return "\n".join(out)


def overlay_videos(overlays: Sequence[tuple[str, str, PathLike]], html_dir: PathLike) -> str:
    """Players for the ``(model, video, mp4)`` overlays, linked relative to ``html_dir``."""
    out = [_h2("overlays", "Overlay videos")]
    if not overlays:
        out.append(note("No overlay videos were requested."))
    for model, video, path in overlays:
        url = esc(rel_url(path, html_dir))
        label = esc(f"{model} \u2014 {video}")
        out.append(
            f'<h3>{label}</h3>\n<p><a href="{url}">{url}</a></p>\n'
            f'<video controls preload="metadata" src="{url}"></video>'
        )
    return "\n".join(out)


def how_to_read(iou_threshold: float) -> str:
    iou = fmt_threshold(iou_threshold)
    items = [f"<li><b>{esc(k)}</b>: {esc(t.format(iou=iou))}</li>" for k, t in HOW_TO_READ]
    return "\n".join([_h2("howto", "How to read this"), "<ul>", *items, "</ul>"])
