"""Overlay videos and the self-contained HTML report.

:func:`render_overlay` draws a track table onto its video (translucent mask fills, outlines and
identity labels; interpolated rows with a dashed outline and an "(interp)" tag), streaming frame
by frame. :func:`build_report` writes one HTML file with the metric tables, trajectory plots,
identity timelines, training curves (PNG figures embedded as base64 data URIs) and links to the
overlay videos (relative to the HTML file).
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import logging
import math
import os
import urllib.parse
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.io import EthoflowError, atomic_path, read_json, tracktable
from ethoflow.io import masks as M
from ethoflow.io.draw import identity_colors
from ethoflow.io.video import VideoWriter, iter_frames, probe

log = logging.getLogger(__name__)

#: IoU below which a predicted mask does not match the truth mask of the same identity.
MATCH_IOU = 0.5

DASH = "\u2013"  # shown for missing / undefined values

STATUS_COLORS = {
    "detected": "#3b75af",
    "interpolated": "#f0a030",
    "missing": "#e3e3e3",
    "wrong": "#d62728",
    "ok": "#b8dfb0",
}


# ----------------------------------------------------------------------------------------------
# Colours
# ----------------------------------------------------------------------------------------------


def _ordered_identities(identities: Sequence[str], *tables: pd.DataFrame) -> list[str]:
    """``identities`` followed by any identity found in the tables but not listed."""
    out = [str(i) for i in identities]
    for t in tables:
        if t is None or not len(t):
            continue
        for i in sorted(set(t["identity"].astype(str)) - set(out)):
            out.append(i)
    return out


# ----------------------------------------------------------------------------------------------
# Overlay video
# ----------------------------------------------------------------------------------------------


def _dashed_contour(img: np.ndarray, contour: np.ndarray, color, thickness: int, dash: int):
    pts = contour.reshape(-1, 2)
    import cv2

    for s in range(0, len(pts), 2 * dash):
        seg = pts[s : s + dash + 1]
        if len(seg) >= 2:
            cv2.polylines(img, [seg.reshape(-1, 1, 2)], False, color, thickness, cv2.LINE_AA)


def _label(img: np.ndarray, text: str, cx: float, cy: float, color, scale: float, thick: int):
    import cv2

    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, thick)
    h, w = img.shape[:2]
    x = int(round(cx - tw / 2))
    y = int(round(cy + th / 2))
    x = min(max(x, 0), max(w - tw, 0))
    y = min(max(y, th), max(h - base, th))
    cv2.putText(img, text, (x, y), font, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), font, scale, color, thick, cv2.LINE_AA)


def draw_tracks(
    frame: np.ndarray,
    rows: pd.DataFrame | None,
    colors: dict[str, tuple[int, int, int]],
    alpha: float = 0.45,
    frame_index: int | None = None,
) -> np.ndarray:
    """Draw one frame's track rows (fill, outline, identity label) onto a copy of ``frame``."""
    import cv2

    out = np.array(frame, dtype=np.uint8, copy=True)
    h, w = out.shape[:2]
    scale = max(0.3, min(h, w) / 640.0)
    thick = max(1, int(round(min(h, w) / 320.0)))
    labels = []
    if rows is not None:
        for r in rows.itertuples(index=False):
            m = M.decode(r.mask)
            if m.shape != (h, w):
                m = cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST) > 0
            if not m.any():
                continue
            color = colors.get(str(r.identity), (200, 200, 200))
            c = np.asarray(color, dtype=np.float32)
            region = out[m].astype(np.float32)
            out[m] = np.clip(region * (1 - alpha) + c * alpha, 0, 255).astype(np.uint8)
            contours, _ = cv2.findContours(
                m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
            )
            interp = r.source == "interpolated"
            for cnt in contours:
                if interp:
                    _dashed_contour(out, cnt, color, max(1, thick), dash=max(2, min(h, w) // 64))
                else:
                    cv2.drawContours(out, [cnt], -1, color, thick + 1, cv2.LINE_AA)
            cx, cy = r.cx, r.cy
            if cx is None or cy is None or not (math.isfinite(cx) and math.isfinite(cy)):
                ys, xs = np.nonzero(m)
                cx, cy = xs.mean() + 0.5, ys.mean() + 0.5
            text = f"{r.identity} (interp)" if interp else str(r.identity)
            labels.append((text, cx, cy, color))
    # Labels last, so that no fill covers them.
    for text, cx, cy, color in labels:
        _label(out, text, cx, cy, color, scale, thick)
    if frame_index is not None:
        _label(out, f"frame {frame_index}", 0, 0, (255, 255, 255), scale * 0.8, thick)
    return out


def render_overlay(
    video_path: str | os.PathLike,
    tracks_df: pd.DataFrame | str | os.PathLike,
    out_path: str | os.PathLike,
    identities: Sequence[str],
    max_frames: int = 300,
    progress=None,
) -> dict:
    """Write an mp4 of the first ``max_frames`` frames of a video with its tracks drawn on.

    Each tracked mask is filled with its identity's colour (fixed by the index in
    ``identities``), outlined, and labelled with the identity name near its centroid;
    interpolated rows get a thin dashed outline and an "(interp)" tag. Frames are decoded,
    drawn and encoded one at a time; the output appears atomically. ``tracks_df`` may also be a
    path to a track table. Returns ``{"frames", "width", "height", "fps"}`` of the result.
    """
    if not isinstance(tracks_df, pd.DataFrame):
        tracks_df = tracktable.read(tracks_df)
    info = probe(video_path, count=False)
    width, height, fps = info["width"], info["height"], info["fps"]
    # yuv420p needs even dimensions: pad odd ones by one black pixel.
    out_w, out_h = width + width % 2, height + height % 2
    max_frames = int(max_frames)
    stop = max_frames if max_frames > 0 else None
    df = tracks_df
    if stop is not None:
        df = df[df["frame"] < stop]
    by_frame = {int(f): g for f, g in df.groupby("frame", sort=False)}
    names = _ordered_identities(identities, tracks_df)
    colors = {
        name: tuple(int(round(255 * v)) for v in rgb)
        for name, rgb in zip(names, identity_colors(names), strict=True)
    }
    frames = iter_frames(video_path, 0, stop)
    if progress is not None:
        from tqdm import tqdm

        total = info["n_frames"] or None
        if total and stop is not None:
            total = min(total, stop)
        frames = tqdm(
            frames,
            total=total,
            desc=f"overlay {Path(video_path).name}",
            file=progress,
            mininterval=5,
        )
    n = 0
    with VideoWriter(out_path, fps, out_w, out_h) as writer:
        for i, frame in frames:
            img = draw_tracks(frame, by_frame.get(i), colors, frame_index=i)
            if (out_w, out_h) != (width, height):
                padded = np.zeros((out_h, out_w, 3), dtype=np.uint8)
                padded[:height, :width] = img
                img = padded
            writer.write(img)
            n += 1
    if n == 0:
        raise EthoflowError(f"{video_path}: no frames to draw")
    log.info("overlay %s: %d frames, %dx%d", out_path, n, out_w, out_h)
    return {"frames": n, "width": out_w, "height": out_h, "fps": fps}


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _frame_size(*tables: pd.DataFrame) -> tuple[int, int] | None:
    """(height, width) from the first mask found (tables made from keypoints have none)."""
    for t in tables:
        if t is None or not len(t):
            continue
        masks = t["mask"].dropna()
        if len(masks):
            size = masks.iloc[0]["size"]
            return int(size[0]), int(size[1])
    return None


def _series(df: pd.DataFrame, identity: str, frames: range) -> pd.DataFrame:
    rows = df[df["identity"].astype(str) == identity].set_index("frame")
    return rows[["cx", "cy", "source"]].reindex(frames)


def trajectory_figure(
    pred: pd.DataFrame, truth: pd.DataFrame | None, identities: Sequence[str], title: str
) -> str:
    """Centroid trajectories per identity (image coordinates); truth faint and dashed."""
    names = _ordered_identities(identities, pred, truth)
    colors = identity_colors(names)
    fig = _figure(5.2, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    frames = _frame_range(pred, truth)
    for name, color in zip(names, colors, strict=True):
        if truth is not None and len(truth):
            t = _series(truth, name, frames)
            if t["cx"].notna().any():
                ax.plot(
                    t["cx"], t["cy"], "--", color=color, alpha=0.45, lw=1.0, label=f"{name} (truth)"
                )
        p = _series(pred, name, frames)
        if p["cx"].notna().any():
            ax.plot(p["cx"], p["cy"], "-", color=color, lw=1.4, label=name)
            interp = p["source"] == "interpolated"
            if interp.any():
                ax.plot(p.loc[interp, "cx"], p.loc[interp, "cy"], "x", color=color, ms=3, alpha=0.8)
    size = _frame_size(pred, truth)
    if size is not None:
        ax.set_xlim(0, size[1])
        ax.set_ylim(size[0], 0)
        ax.set_aspect("equal")
    else:
        ax.invert_yaxis()
    ax.set_xlabel("cx (pixels)")
    ax.set_ylabel("cy (pixels)")
    ax.set_title(title, fontsize=10)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png_data_uri(fig)


def _frame_range(*tables: pd.DataFrame | None) -> range:
    last = -1
    for t in tables:
        if t is not None and len(t):
            last = max(last, int(t["frame"].max()))
    return range(0, last + 1)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a boolean array."""
    if not flags.any():
        return []
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    d = np.diff(padded)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def identity_status(
    pred: pd.DataFrame,
    truth: pd.DataFrame | None,
    identity: str,
    n_frames: int,
    gate: float | None = None,
) -> dict[str, np.ndarray]:
    """Per-frame boolean arrays for one identity.

    ``detected``, ``interpolated``, ``missing`` describe the prediction. With truth, on every
    frame that has truth rows (the annotated frames): ``wrong`` where the predicted mask of this
    identity does not match the truth mask of the same identity (IoU < 0.5, or only one of the
    two exists), ``ok`` where they match. Truth without masks (keypoint centroids) matches on
    centroid distance instead: ``wrong`` where it is ``gate`` pixels or more.
    """
    detected = np.zeros(n_frames, dtype=bool)
    interpolated = np.zeros(n_frames, dtype=bool)
    p = pred[pred["identity"].astype(str) == identity]
    p_masks, p_xy = {}, {}
    for f, src, m, x, y in zip(p["frame"], p["source"], p["mask"], p["cx"], p["cy"], strict=True):
        f = int(f)
        if 0 <= f < n_frames:
            (interpolated if src == "interpolated" else detected)[f] = True
            p_masks[f] = m
            p_xy[f] = (x, y)
    out = {
        "detected": detected,
        "interpolated": interpolated,
        "missing": ~(detected | interpolated),
    }
    if truth is not None and len(truth):
        wrong = np.zeros(n_frames, dtype=bool)
        ok = np.zeros(n_frames, dtype=bool)
        t = truth[truth["identity"].astype(str) == identity]
        by_centroid = gate is not None and t["mask"].isna().all()
        t_masks = {int(f): m for f, m in zip(t["frame"], t["mask"], strict=True)}
        t_xy = {int(f): (x, y) for f, x, y in zip(t["frame"], t["cx"], t["cy"], strict=True)}
        for f in sorted(int(x) for x in truth["frame"].unique()):
            if not 0 <= f < n_frames:
                continue
            if by_centroid:
                pm, tm = p_xy.get(f), t_xy.get(f)
            else:
                pm, tm = p_masks.get(f), t_masks.get(f)
            if pm is None and tm is None:
                continue
            if pm is None or tm is None:
                wrong[f] = True
            elif by_centroid:
                d = float(np.hypot(pm[0] - tm[0], pm[1] - tm[1]))
                wrong[f] = not d < gate
                ok[f] = d < gate
            elif M.iou_matrix([pm], [tm])[0, 0] < MATCH_IOU:
                wrong[f] = True
            else:
                ok[f] = True
        out["wrong"] = wrong
        out["ok"] = ok
    return out


def timeline_figure(
    pred: pd.DataFrame,
    truth: pd.DataFrame | None,
    identities: Sequence[str],
    title: str,
    gate: float | None = None,
) -> str:
    """One row per identity over frames: detected / interpolated / missing, and (with truth)
    a lower strip marking frames where the prediction does not match the truth."""
    from matplotlib.patches import Patch

    names = _ordered_identities(identities, pred, truth)
    frames = _frame_range(pred, truth)
    n = max(len(frames), 1)
    has_truth = truth is not None and len(truth) > 0
    fig = _figure(8.0, 0.55 * len(names) + 1.3)
    ax = fig.add_subplot(1, 1, 1)
    for k, name in enumerate(names):
        st = identity_status(pred, truth, name, n, gate=gate)
        y = len(names) - 1 - k
        top, top_h = (y + 0.05, 0.55) if has_truth else (y - 0.35, 0.7)
        for key in ("missing", "detected", "interpolated"):
            ax.broken_barh(
                _runs(st[key]), (top, top_h), facecolors=STATUS_COLORS[key], edgecolor="none"
            )
        if has_truth:
            for key in ("ok", "wrong"):
                ax.broken_barh(
                    _runs(st[key]), (y - 0.4, 0.35), facecolors=STATUS_COLORS[key], edgecolor="none"
                )
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(list(reversed(names)))
    ax.set_ylim(-0.6, len(names) - 0.3)
    ax.set_xlim(0, n)
    ax.set_xlabel("frame")
    ax.set_title(title, fontsize=10)
    handles = [
        Patch(color=STATUS_COLORS["detected"], label="detected"),
        Patch(color=STATUS_COLORS["interpolated"], label="interpolated"),
        Patch(color=STATUS_COLORS["missing"], label="missing"),
    ]
    if has_truth:
        handles += [
            Patch(color=STATUS_COLORS["ok"], label=f"matches truth (IoU \u2265 {MATCH_IOU})"),
            Patch(color=STATUS_COLORS["wrong"], label="wrong/absent vs truth"),
        ]
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    return _png_data_uri(fig)


def loss_figure(log_df: pd.DataFrame, title: str) -> str | None:
    """Total training loss (``loss``) and its terms (every ``loss_*`` column, whatever the model
    family) per iteration, log-scale y. None if nothing to plot."""
    if "iteration" not in log_df.columns or not len(log_df):
        return None
    fig = _figure(7.0, 3.8)
    ax = fig.add_subplot(1, 1, 1)
    plotted = False
    it = pd.to_numeric(log_df["iteration"], errors="coerce")
    terms = [c for c in log_df.columns if isinstance(c, str) and c.startswith("loss_")]
    for col in ["loss", *terms]:
        if col not in log_df.columns:
            continue
        y = pd.to_numeric(log_df[col], errors="coerce")
        keep = it.notna() & y.notna() & (y > 0)
        if not keep.any():
            continue
        total = col == "loss"
        ax.plot(
            it[keep],
            y[keep],
            color="black" if total else None,
            lw=1.8 if total else 1.0,
            alpha=1.0 if total else 0.8,
            label="total" if total else col,
        )
        plotted = True
    if not plotted:
        return None
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    return _png_data_uri(fig)


# ----------------------------------------------------------------------------------------------
# HTML
# ----------------------------------------------------------------------------------------------

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #444; padding-bottom: .2em; }
h2 { border-bottom: 1px solid #bbb; padding-bottom: .15em; margin-top: 2em; }
h3 { margin-bottom: .3em; }
table { border-collapse: collapse; margin: .6em 0 1.2em; font-size: .9em; }
th, td { border: 1px solid #999; padding: .25em .6em; }
th { background: #eee; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.note { color: #777; font-style: italic; text-align: center; }
dl.meta dt { font-weight: bold; float: left; clear: left; width: 9em; }
dl.meta dd { margin-left: 10em; }
.figs { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.figs img { max-width: 100%; border: 1px solid #ddd; }
video { max-width: 100%; border: 1px solid #ccc; display: block; margin: .3em 0 1em; }
.muted { color: #777; }
nav a { margin-right: 1em; }
"""

HOW_TO_READ = [
    (
        "MOTA",
        "multiple object tracking accuracy: 1 \u2212 (misses + false positives + identity "
        "switches) / number of truth objects; 1 is perfect, it can go below 0.",
    ),
    (
        "IDF1",
        "F1 score of identity-consistent matches: the fraction of detections assigned to "
        "the right track over the whole video (0 to 1).",
    ),
    (
        "HOTA",
        "higher order tracking accuracy: geometric mean of detection accuracy (DetA) and "
        "association accuracy (AssA), averaged over IoU thresholds 0.05 to 0.95.",
    ),
    (
        "Identity accuracy",
        "of the predicted masks matched to a truth mask (IoU \u2265 0.5), the "
        "fraction that carry the right animal identity.",
    ),
    (
        "Inference frames/s",
        "frames processed per second of inference time (decoding, model forward pass and "
        "mask encoding, summed over the shards of every video; shards that run in parallel "
        "each count their own time).",
    ),
    (
        "COCO AP",
        "detection (bbox) or mask (segm) average precision on the validation frames, "
        "averaged over IoU 0.50 to 0.95; AP50 at IoU 0.50 only.",
    ),
]


def _e(x) -> str:
    return html.escape(str(x), quote=True)


def _missing(v) -> bool:
    if v is None:
        return True
    if isinstance(v, str):
        return v.strip() == "" or v.strip().lower() in ("nan", "none", "null")
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def fmt(v, digits: int = 3, integer: bool = False) -> str:
    """Number -> text with ``digits`` decimals (or an integer); NaN/None/empty -> "–"."""
    if _missing(v):
        return DASH
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    try:
        x = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(x):
        return DASH
    if integer:
        return f"{int(round(x)):,}"
    return f"{x:.{digits}f}"


def fmt_duration(seconds) -> str:
    if _missing(seconds):
        return DASH
    s = float(seconds)
    if not math.isfinite(s):
        return DASH
    if s < 120:
        return f"{s:.1f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    return f"{s / 3600:.2f} h"


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes")
    return not _missing(v) and bool(v)


def _table(header: list[str], rows: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    return (
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(rows)
        + "\n</tbody>\n</table>"
    )


def _num(v, **kw) -> str:
    return f'<td class="num">{_e(fmt(v, **kw))}</td>'


def _rel_url(target: str | os.PathLike, html_dir: Path) -> str:
    rel = os.path.relpath(os.path.abspath(target), os.path.abspath(html_dir))
    return urllib.parse.quote(Path(rel).as_posix())


def _read_summary(path: str | os.PathLike) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except pd.errors.EmptyDataError:
        return pd.DataFrame(columns=["model", "video"])


def _inference_fps(rows: pd.DataFrame) -> float | None:
    """Total inference frames / total seconds over the rows that know both; None if none do."""
    if not {"infer_frames", "infer_seconds"} <= set(rows.columns):
        return None
    frames = pd.to_numeric(rows["infer_frames"], errors="coerce")
    seconds = pd.to_numeric(rows["infer_seconds"], errors="coerce")
    known = frames.notna() & seconds.notna() & np.isfinite(seconds)
    total = float(seconds[known].sum())
    return float(frames[known].sum()) / total if known.any() and total > 0 else None


def _model_table(
    summary: pd.DataFrame, coco: dict, models: list[str], with_truth: list[str]
) -> str:
    header = [
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
    rows = []
    for m in models:
        c = coco.get(m, {})
        s = summary[summary["model"].astype(str) == m] if len(summary) else summary
        fps = _inference_fps(s)
        if len(s):
            scored = s["video"].astype(str).isin(with_truth)
            if "has_truth" in s.columns:
                scored &= s["has_truth"].map(_truthy)
            s = s[scored]
        cells = [f"<td>{_e(m)}</td>"]
        cells += [_num(c.get(k)) for k in ("bbox_ap", "bbox_ap50", "segm_ap", "segm_ap50")]
        for k in ("mota", "idf1", "hota", "identity_accuracy"):
            vals = (
                pd.to_numeric(s[k], errors="coerce") if k in s.columns else pd.Series(dtype=float)
            )
            cells.append(_num(vals.mean() if vals.notna().any() else None))
        cells.append(_num(fps, digits=1))
        cells.append(_num(len(s), integer=True))
        cells.append(f'<td class="num">{_e(fmt_duration(c.get("train_seconds")))}</td>')
        cells.append(_num(c.get("parameters"), integer=True))
        mb = c.get("checkpoint_bytes")
        cells.append(_num(None if _missing(mb) else float(mb) / 1e6, digits=1))
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table(header, rows)


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


def _video_table(
    summary: pd.DataFrame,
    models: list[str],
    videos: list[str],
    with_truth: list[str],
    labelled: list[str],
) -> str:
    header = ["model", "video", "labelled", *[h for _, h, _ in VIDEO_METRICS], "interpolated rows"]
    lookup = {}
    for r in summary.to_dict("records"):
        lookup[(str(r.get("model")), str(r.get("video")))] = r
    rows = []
    for m in models:
        for v in videos:
            r = lookup.get((m, v))
            if r is None and lookup:
                continue  # a baseline that has no output for this video
            r = r or {}
            has_truth = v in with_truth and _truthy(r.get("has_truth", bool(r)))
            cells = [
                f"<td>{_e(m)}</td>",
                f"<td>{_e(v)}</td>",
                f"<td>{'yes' if v in labelled else 'no'}</td>",
            ]
            if has_truth:
                cells += [_num(r.get(k), integer=i) for k, _, i in VIDEO_METRICS]
            else:
                cells.append(
                    f'<td class="note" colspan="{len(VIDEO_METRICS)}">no ground truth</td>'
                )
            cells.append(_num(r.get("interpolated_rows"), integer=True))
            rows.append("<tr>" + "".join(cells) + "</tr>")
    return _table(header, rows)


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


def _parts_table(
    summary: pd.DataFrame, trackers: list[str], videos: list[str], with_truth: list[str]
) -> str:
    header = ["tracker", "video", *[h for _, h, _ in PART_COLUMNS]]
    lookup = {(str(r.get("model")), str(r.get("video"))): r for r in summary.to_dict("records")}
    rows = []
    for m in trackers:
        for v in videos:
            r = lookup.get((m, v))
            if r is None or v not in with_truth or not _truthy(r.get("has_truth", False)):
                continue
            cells = [f"<td>{_e(m)}</td>", f"<td>{_e(v)}</td>"]
            cells += [_num(r.get(k), integer=i) for k, _, i in PART_COLUMNS]
            rows.append("<tr>" + "".join(cells) + "</tr>")
    if not rows:
        return '<p class="muted">No video with ground truth.</p>'
    return _table(header, rows)


def _bootstrap_section(dirs: list[Path], limit: int = 12) -> str:
    out = [
        '<p class="muted">Instance masks made from keypoint labels (foreground from a '
        "background model, split between animals by a watershed seeded at each identity's "
        "keypoints), as they enter training. Dots are the keypoints.</p>"
    ]
    for d in dirs:
        pngs = sorted((d / "overlays").glob("*.png"))[:limit]
        stats = d / "bootstrap.csv"
        out.append(f"<h3>{_e(d.name)}</h3>")
        if stats.exists():
            try:
                b = pd.read_csv(stats)
            except pd.errors.EmptyDataError:
                b = pd.DataFrame()
            if len(b):
                flagged = b["flags"].fillna("").astype(str).str.len().gt(0).sum()
                inside = pd.to_numeric(b.get("keypoints_inside"), errors="coerce")
                out.append(
                    f"<p>{b['name'].nunique()} frames, {len(b)} masks; mean fraction of "
                    f"keypoints inside their mask {fmt(inside.mean())}; {int(flagged)} masks "
                    "flagged.</p>"
                )
        if pngs:
            imgs = []
            for f in pngs:
                data = base64.b64encode(f.read_bytes()).decode()
                imgs.append(_img(f"data:image/png;base64,{data}", f"bootstrapped masks {f.stem}"))
            out.append(f'<div class="figs">{"".join(imgs)}</div>')
    return "\n".join(out)


def _qa_section(files: list[Path], html_dir: Path) -> str:
    out = [
        '<p class="muted">Frames that fail a consistency check (two identities overlap, an '
        "area leaves its usual range, an identity is missing or doubled, a centroid jumps). "
        "Each table has a review queue beside it: LabelMe files pre-filled with the masks of "
        "the flagged frames; correct them in LabelMe and copy them into the video's labels "
        "folder, and the next run retrains with them.</p>"
    ]
    header = ["table", "frames flagged", "overlap", "area", "missing", "duplicate", "jump"]
    rows = []
    for f in files:
        try:
            q = pd.read_parquet(f)
        except Exception as e:  # a report must not die on one unreadable table
            rows.append(f'<tr><td>{_e(f)}</td><td class="note" colspan="6">{_e(e)}</td></tr>')
            continue
        counts = q["check"].value_counts() if len(q) else pd.Series(dtype=int)
        name = "/".join(f.with_suffix("").parts[-2:])
        cells = [f"<td>{_e(name)}</td>", _num(q["frame"].nunique() if len(q) else 0, integer=True)]
        cells += [
            _num(int(counts.get(k, 0)), integer=True)
            for k in ("overlap", "area", "missing", "duplicate", "jump")
        ]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    out.append(_table(header, rows))
    return "\n".join(out)


def _key_from_table(df: pd.DataFrame, path: Path) -> tuple[str, str]:
    """(model, video) of a track table: from its columns, else from ``.../{model}/{video}``."""
    if len(df):
        return str(df["model"].iloc[0]), str(df["video"].iloc[0])
    return path.parent.name, path.stem


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_e(alt)}">'


def build_report(
    out_html: str | os.PathLike,
    *,
    summary_csv: str | os.PathLike,
    coco_files: Iterable[str | os.PathLike],
    track_files: Iterable[str | os.PathLike],
    truth_files: Iterable[str | os.PathLike],
    train_logs: Iterable[str | os.PathLike],
    overlays: Iterable[str | os.PathLike],
    models: Sequence[str],
    videos: Sequence[str],
    with_truth: Sequence[str],
    labelled: Sequence[str],
    identities: Sequence[str],
    trackers: Sequence[str] | None = None,
    gates: dict[str, float] | None = None,
    bootstrap_dirs: Iterable[str | os.PathLike] = (),
    qa_files: Iterable[str | os.PathLike] = (),
) -> None:
    """Write the self-contained HTML report (figures embedded, overlays linked relatively).

    ``trackers`` are every tracker with track tables (the models, then the baselines: the
    classical tracker, other tools' output; default: the models). ``gates`` gives, per video
    scored on keypoint centroids, the centroid gate in pixels. ``bootstrap_dirs`` are
    ``results/bootstrap/{video}`` folders (masks from keypoints; their ``overlays/*.png`` are
    shown), ``qa_files`` QA tables (``results/qa/...parquet``).

    ``track_files`` are ``results/tracks/{model}/{video}.parquet``, ``truth_files`` track tables
    matched to videos by their ``video`` column, ``train_logs``
    ``results/models/{model}/train_log.csv`` and ``overlays``
    ``results/report/overlays/{model}/{video}.mp4``.
    """
    out_html = Path(out_html)
    html_dir = out_html.parent
    models, videos = [str(m) for m in models], [str(v) for v in videos]
    trackers = [str(t) for t in trackers] if trackers is not None else models
    gates = {str(k): float(v) for k, v in (gates or {}).items()}
    with_truth, labelled = [str(v) for v in with_truth], [str(v) for v in labelled]
    identities = [str(i) for i in identities]

    summary = _read_summary(summary_csv)
    coco = {}
    for f in coco_files:
        d = read_json(f)
        coco[str(d.get("model", Path(f).parent.name))] = d

    truth: dict[str, pd.DataFrame] = {}
    for f in truth_files:
        t = tracktable.read(f)
        if len(t):
            for v, g in t.groupby("video", sort=False):
                truth[str(v)] = g.reset_index(drop=True)
        else:
            truth.setdefault(Path(f).stem, t)

    track_paths: dict[tuple[str, str], Path] = {}
    for f in track_files:
        f = Path(f)
        track_paths[(f.parent.name, f.stem)] = f

    parts: list[str] = []
    now = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    parts.append(
        f'<h1>ethoflow report</h1>\n<dl class="meta">\n'
        f"<dt>Run date</dt><dd>{_e(now)}</dd>\n"
        f"<dt>Models</dt><dd>{_e(', '.join(models)) or DASH}</dd>\n"
        f"<dt>Videos</dt><dd>{_e(', '.join(videos)) or DASH}</dd>\n"
        f"<dt>Identities</dt><dd>{_e(', '.join(identities)) or DASH}</dd>\n"
        f"<dt>Labelled</dt><dd>{_e(', '.join(labelled)) or DASH}</dd>\n"
        f"<dt>With truth</dt><dd>{_e(', '.join(with_truth)) or DASH}</dd>\n</dl>"
    )
    parts.append(
        '<nav><a href="#models">Per-model comparison</a><a href="#videos">Per-video '
        'metrics</a><a href="#tracks">Trajectories and timelines</a><a href="#training">'
        'Training</a><a href="#overlays">Overlay videos</a><a href="#howto">How to read '
        "this</a></nav>"
    )

    parts.append('<h2 id="models">Per-model comparison</h2>')
    parts.append(
        '<p class="muted">COCO AP on the validation frames; MOTA, IDF1, HOTA and '
        "identity accuracy are means over the videos with ground truth; inference "
        "frames/s is all of the model's frames over the summed inference time of its "
        "shards (decoding, forward pass and mask encoding) over every video.</p>"
    )
    parts.append(_model_table(summary, coco, models, with_truth))

    parts.append('<h2 id="videos">Per-video metrics</h2>')
    parts.append(
        '<p class="muted">Every tracker on every video: the trained models, the classical '
        "baseline (threshold, connected components, nearest-neighbour linking) and other tools' "
        "output where the config gives it. Videos scored on keypoint labels match on centroid "
        "distance (a prediction counts within the gate), the others on mask IoU.</p>"
    )
    parts.append(_video_table(summary, trackers, videos, with_truth, labelled))
    parts.append('<h3 id="parts">Seen, unseen and touching frames</h3>')
    parts.append(
        '<p class="muted">The same metrics over the frames that were labelled for training, '
        "over all other frames, and over the frames where truth animals touch (mask truth "
        "only): misses there show a tracker that cannot split touching animals.</p>"
    )
    parts.append(_parts_table(summary, trackers, videos, with_truth))
    boot = [Path(d) for d in bootstrap_dirs]
    if boot:
        parts.append('<h2 id="bootstrap">Masks from keypoints</h2>')
        parts.append(_bootstrap_section(boot))
    qa = [Path(f) for f in qa_files]
    if qa:
        parts.append('<h2 id="qa">Label and track quality checks</h2>')
        parts.append(_qa_section(qa, html_dir))

    parts.append('<h2 id="tracks">Trajectories and identity timelines</h2>')
    parts.append(
        '<p class="muted">Trajectories: centroid per identity in image coordinates '
        "(solid: prediction, \u00d7: interpolated, dashed and faint: ground truth). "
        "Timelines: per identity and frame, detected / interpolated / missing; with "
        "ground truth, the lower strip is red where the predicted mask of that identity "
        f"does not match its truth mask (IoU &lt; {MATCH_IOU}) or one of them is "
        "absent.</p>"
    )
    for m in trackers:
        for v in videos:
            path = track_paths.get((m, v))
            if path is None:
                continue
            parts.append(f"<h3>{_e(m)} \u2014 {_e(v)}</h3>")
            pred = tracktable.read(path)
            t = truth.get(v)
            if not len(pred) and (t is None or not len(t)):
                parts.append('<p class="muted">The track table is empty.</p>')
                continue
            traj = trajectory_figure(pred, t, identities, f"{m} / {v}: trajectories")
            tl = timeline_figure(
                pred, t, identities, f"{m} / {v}: identity timeline", gate=gates.get(v)
            )
            note = "" if t is not None else '<p class="muted">No ground truth for this video.</p>'
            parts.append(
                f'{note}<div class="figs">{_img(traj, f"trajectories {m} {v}")}'
                f"{_img(tl, f'identity timeline {m} {v}')}</div>"
            )
            del pred

    parts.append('<h2 id="training">Training</h2>')
    logs = {Path(f).parent.name: Path(f) for f in train_logs}
    for m in models:
        parts.append(f"<h3>{_e(m)}</h3>")
        f = logs.get(m)
        if f is None:
            parts.append('<p class="muted">No training log.</p>')
            continue
        try:
            df = pd.read_csv(f)
        except pd.errors.EmptyDataError:
            df = pd.DataFrame()
        except FileNotFoundError:
            raise EthoflowError(f"{f}: file not found") from None
        uri = loss_figure(df, f"{m}: training loss")
        if uri is None:
            parts.append('<p class="muted">The training log has no loss values.</p>')
        else:
            parts.append(f'<div class="figs">{_img(uri, f"training loss {m}")}</div>')

    parts.append('<h2 id="overlays">Overlay videos</h2>')
    ov = [Path(f) for f in overlays]
    if not ov:
        parts.append('<p class="muted">No overlay videos were requested.</p>')
    for f in ov:
        url = _rel_url(f, html_dir)
        label = f"{f.parent.name} \u2014 {f.stem}"
        parts.append(
            f'<h3>{_e(label)}</h3>\n<p><a href="{_e(url)}">{_e(url)}</a></p>\n'
            f'<video controls preload="metadata" src="{_e(url)}"></video>'
        )

    parts.append('<h2 id="howto">How to read this</h2>\n<ul>')
    for name, text in HOW_TO_READ:
        parts.append(f"<li><b>{_e(name)}</b>: {_e(text)}</li>")
    parts.append("</ul>")

    doc = (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>ethoflow report \u2014 {_e(now)}</title>\n<style>{CSS}</style>\n</head>\n"
        "<body>\n" + "\n".join(parts) + "\n</body>\n</html>\n"
    )
    with atomic_path(out_html) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    log.info("report %s: %d models, %d videos", out_html, len(models), len(videos))
