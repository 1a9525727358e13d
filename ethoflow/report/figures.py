"""The report's figures, each returned as a PNG data URI ready for an ``<img src>``.

Figures are drawn on a bare Agg canvas (no pyplot: no global state, no display needed) and
encoded by :func:`ethoflow.io.images.figure_png`, cropped to what they draw so that legends
placed outside the axes are kept.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ethoflow.defaults import METRICS
from ethoflow.evaluation.truth import identity_status
from ethoflow.io.draw import identity_colors
from ethoflow.io.images import data_uri, figure_png
from ethoflow.report.html import fmt_threshold
from ethoflow.report.overlay import ordered_identities

STATUS_COLORS = {
    "detected": "#3b75af",
    "interpolated": "#f0a030",
    "missing": "#e3e3e3",
    "wrong": "#d62728",
    "ok": "#b8dfb0",
}


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _uri(fig) -> str:
    return data_uri(figure_png(fig))


def _legend(ax, **kw) -> None:
    """A small legend to the right of the axes."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False, **kw)


def _frame_size(*tables: pd.DataFrame | None) -> tuple[int, int] | None:
    """(height, width) from the first mask found (tables made from keypoints have none)."""
    for t in tables:
        if t is None or not len(t):
            continue
        masks = t["mask"].dropna()
        if len(masks):
            size = masks.iloc[0]["size"]
            return int(size[0]), int(size[1])
    return None


def _frame_range(*tables: pd.DataFrame | None) -> range:
    last = -1
    for t in tables:
        if t is not None and len(t):
            last = max(last, int(t["frame"].max()))
    return range(0, last + 1)


def _series(df: pd.DataFrame, identity: str, frames: range) -> pd.DataFrame:
    rows = df[df["identity"].astype(str) == identity].set_index("frame")
    return rows[["cx", "cy", "source"]].reindex(frames)


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a boolean array."""
    if not flags.any():
        return []
    padded = np.concatenate([[False], flags, [False]]).astype(np.int8)
    d = np.diff(padded)
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return [(int(s), int(e - s)) for s, e in zip(starts, ends, strict=True)]


def trajectory_figure(
    pred: pd.DataFrame, truth: pd.DataFrame | None, identities: Sequence[str], title: str
) -> str:
    """Centroid trajectories per identity (image coordinates); truth faint and dashed."""
    names = ordered_identities(identities, pred, truth)
    fig = _figure(5.2, 4.6)
    ax = fig.add_subplot(1, 1, 1)
    frames = _frame_range(pred, truth)
    for name, color in zip(names, identity_colors(names), strict=True):
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
        _legend(ax)
    return _uri(fig)


def _status_legend(has_truth: bool, iou_threshold: float) -> list:
    from matplotlib.patches import Patch

    handles = [Patch(color=STATUS_COLORS[k], label=k) for k in ("detected", "interpolated")]
    handles.append(Patch(color=STATUS_COLORS["missing"], label="missing"))
    if has_truth:
        iou = fmt_threshold(iou_threshold)
        handles += [
            Patch(color=STATUS_COLORS["ok"], label=f"matches truth (IoU \u2265 {iou})"),
            Patch(color=STATUS_COLORS["wrong"], label="wrong/absent vs truth"),
        ]
    return handles


def timeline_figure(
    pred: pd.DataFrame,
    truth: pd.DataFrame | None,
    identities: Sequence[str],
    title: str,
    gate: float | None = None,
    iou_threshold: float = METRICS["iou_threshold"],
) -> str:
    """One row per identity over frames: detected / interpolated / missing, and (with truth)
    a lower strip marking frames where the prediction does not match the truth.

    Matching is :func:`ethoflow.evaluation.truth.identity_status`'s: mask IoU at
    ``iou_threshold``, or, for truth without masks, centroid distance under ``gate`` pixels.
    """
    names = ordered_identities(identities, pred, truth)
    n = max(len(_frame_range(pred, truth)), 1)
    has_truth = truth is not None and len(truth) > 0
    fig = _figure(8.0, 0.55 * len(names) + 1.3)
    ax = fig.add_subplot(1, 1, 1)
    for k, name in enumerate(names):
        st = identity_status(pred, truth, name, n, gate=gate, iou_threshold=iou_threshold)
        y = len(names) - 1 - k
        top = (y + 0.05, 0.55) if has_truth else (y - 0.35, 0.7)
        strips = [(key, top) for key in ("missing", "detected", "interpolated")]
        if has_truth:
            strips += [(key, (y - 0.4, 0.35)) for key in ("ok", "wrong")]
        for key, span in strips:
            ax.broken_barh(_runs(st[key]), span, facecolors=STATUS_COLORS[key], edgecolor="none")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(list(reversed(names)))
    ax.set_ylim(-0.6, len(names) - 0.3)
    ax.set_xlim(0, n)
    ax.set_xlabel("frame")
    ax.set_title(title, fontsize=10)
    _legend(ax, handles=_status_legend(has_truth, iou_threshold))
    return _uri(fig)


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
    _legend(ax)
    return _uri(fig)
