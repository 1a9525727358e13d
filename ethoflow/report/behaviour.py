"""The behaviour report (``results/report/behaviour.html``): ethograms, time budgets, the
classifiers compared, confusion matrices, rater agreement and unsupervised motifs.

Every input is a file of the behaviour stage (see ``rules/behaviour.smk``); nothing here
recomputes a score, it shows them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.behaviour.motifs import motif_label_ami
from ethoflow.io import EthoflowError, atomic_path, read_json
from ethoflow.io.images import data_uri, png_bytes
from ethoflow.io.video import read_frames
from ethoflow.report.figures import _figure, _legend, _uri
from ethoflow.report.html import esc, figs, fmt, img, note, num_cell, page, row, table, text_cell

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
NONE_COLOR = "#f2f2f2"


def behaviour_colors(behaviours: list[str]) -> dict[str, str]:
    """One colour per behaviour (tab10, then tab20), light grey for "none"."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(behaviours) <= 10 else "tab20"]
    out = {b: _hex(cmap(i % cmap.N)) for i, b in enumerate(behaviours)}
    out["none"] = NONE_COLOR
    return out


def _hex(rgba) -> str:
    r, g, b = (int(round(255 * c)) for c in rgba[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def _runs(values: np.ndarray):
    """(start, stop, value) runs of a 1-D array."""
    if not len(values):
        return []
    cut = np.flatnonzero(values[1:] != values[:-1]) + 1
    starts = np.r_[0, cut]
    stops = np.r_[cut, len(values)]
    return [(int(a), int(b), values[a]) for a, b in zip(starts, stops)]


def frame_labels_of(table_: pd.DataFrame, behaviours: list[str]) -> pd.DataFrame:
    """(animal, frame) -> one label per row: the behaviour on ("+"-joined if several), or
    "none"; unscored rows of a label table are dropped."""
    t = table_
    if "scored" in t:
        t = t[t["scored"].astype(bool)]
    on = t[behaviours].to_numpy(dtype=bool) if len(t) else np.zeros((0, len(behaviours)), bool)
    names = np.array(behaviours, dtype=object)
    labels = ["+".join(names[r]) if r.any() else "none" for r in on]
    return pd.DataFrame(
        {"animal": t["animal"].to_numpy(), "frame": t["frame"].to_numpy(), "label": labels}
    )


def ethogram_figure(
    rows: list[tuple[str, pd.DataFrame]], behaviours: list[str], fps: float, title: str
) -> str | None:
    """One horizontal band per (name, animal): the behaviour of every frame in its colour.

    ``rows`` are (row name, table of animal, frame, label); a frame a row lacks stays blank.
    """
    bands = [(name, a, g) for name, t in rows for a, g in t.groupby("animal", sort=False)]
    if not bands:
        return None
    colors = behaviour_colors(behaviours)
    fig = _figure(9.0, 0.35 * len(bands) + 1.0)
    ax = fig.add_subplot(111)
    for k, (_, _, g) in enumerate(bands):
        g = g.sort_values("frame")
        frames = g["frame"].to_numpy()
        labels = g["label"].to_numpy()
        for a, b, lab in _runs(labels):
            first = lab.split("+")[0]
            ax.broken_barh(
                [(frames[a] / fps, (frames[b - 1] + 1 - frames[a]) / fps)],
                (k - 0.4, 0.8),
                color=colors.get(first, "#888888"),
                linewidth=0,
            )
    ax.set_yticks(range(len(bands)))
    ax.set_yticklabels([f"{name}: {a}" for name, a, _ in bands], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.set_title(title, fontsize=9)
    from matplotlib.patches import Patch

    handles = [Patch(color=colors[b], label=b) for b in behaviours]
    ax.legend(
        handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False
    )
    return _uri(fig)


def confusion_figure(conf: pd.DataFrame, title: str) -> str | None:
    """Row-normalised confusion matrix (true rows, predicted columns) with counts."""
    if conf.empty:
        return None
    classes = list(dict.fromkeys(list(conf["true"]) + list(conf["predicted"])))
    m = (
        conf.pivot_table(index="true", columns="predicted", values="count", aggfunc="sum")
        .reindex(index=classes, columns=classes)
        .fillna(0)
        .to_numpy()
    )
    share = m / np.maximum(m.sum(1, keepdims=True), 1)
    fig = _figure(0.5 * len(classes) + 2.2, 0.5 * len(classes) + 1.6)
    ax = fig.add_subplot(111)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            if m[i, j]:
                ax.text(
                    j,
                    i,
                    int(m[i, j]),
                    ha="center",
                    va="center",
                    fontsize=6,
                    color="white" if share[i, j] > 0.6 else "black",
                )
    ax.set_xticks(range(len(classes)))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(classes)))
    ax.set_yticklabels(classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    return _uri(fig)


def matrix_figure(m: pd.DataFrame, title: str, cmap: str = "viridis", center: bool = False):
    """A labelled heat map of a DataFrame (rows x columns)."""
    if m.empty:
        return None
    values = m.to_numpy(dtype=float)
    fig = _figure(min(0.28 * m.shape[1] + 2.5, 12), 0.3 * m.shape[0] + 1.5)
    ax = fig.add_subplot(111)
    lim = np.nanmax(np.abs(values)) if center and np.isfinite(values).any() else None
    im = ax.imshow(
        values, cmap=cmap, aspect="auto", vmin=-lim if lim else None, vmax=lim if lim else None
    )
    ax.set_xticks(range(m.shape[1]))
    ax.set_xticklabels([str(c) for c in m.columns], rotation=90, fontsize=6)
    ax.set_yticks(range(m.shape[0]))
    ax.set_yticklabels([str(r) for r in m.index], fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03)
    return _uri(fig)


def usage_figure(usage: pd.DataFrame, title: str) -> str | None:
    """Motif usage (share of frames) per video, bars side by side."""
    if usage.empty:
        return None
    piv = usage.pivot_table(index="motif", columns="video", values="share", aggfunc="sum")
    piv = piv.fillna(0.0)
    fig = _figure(max(4.0, 0.35 * len(piv) + 2), 2.6)
    ax = fig.add_subplot(111)
    width = 0.8 / max(piv.shape[1], 1)
    for k, video in enumerate(piv.columns):
        ax.bar(np.arange(len(piv)) + k * width, piv[video].to_numpy(), width, label=str(video))
    ax.set_xticks(np.arange(len(piv)) + 0.4 - width / 2)
    ax.set_xticklabels([str(i) for i in piv.index], fontsize=7)
    ax.set_xlabel("motif")
    ax.set_ylabel("share of frames")
    ax.set_title(title, fontsize=9)
    _legend(ax)
    return _uri(fig)


# --------------------------------------------------------------------------------------------
# sections


def _h2(anchor: str, title: str) -> str:
    return f'<h2 id="{anchor}">{esc(title)}</h2>'


def comparison_section(metrics: pd.DataFrame, per_beh: pd.DataFrame) -> str:
    """Classifiers side by side on every scored (tracker, video): macro F1, mAP, bout F1, and
    per behaviour F1 / AP."""
    parts = [_h2("classifiers", "Classifiers compared: TCN and the tree baseline")]
    if metrics.empty:
        return "\n".join(parts + [note("No video has behaviour truth to score against.")])
    cols = ["classifier", "tracker", "video", "split", "reference"]
    rows = [
        row(
            [text_cell(r[c]) for c in cols]
            + [
                num_cell(r["macro_f1"]),
                num_cell(r["map"]),
                num_cell(r["bout_f1"]),
                num_cell(r["n_frames"], integer=True),
            ]
        )
        for _, r in metrics.iterrows()
    ]
    parts.append(table(cols + ["macro F1", "mAP", "bout F1", "frames"], rows))
    parts.append(
        note(
            "Per-frame macro F1 and mAP over the behaviours present in the truth; bout F1: a "
            "predicted bout matches a true bout of the same behaviour and animal at temporal IoU "
            "&ge; 0.5 (one to one). Split: <i>test</i> = a video the classifier never saw, "
            "<i>train</i> = one it was trained on, <i>cv</i> = pooled out-of-fold predictions of "
            "contiguous time blocks."
        )
    )
    if not per_beh.empty:
        piv = per_beh.pivot_table(
            index=["tracker", "video", "split", "reference", "behaviour"],
            columns="classifier",
            values=["f1", "ap"],
            aggfunc="first",
        )
        header = ["tracker", "video", "split", "reference", "behaviour"] + [
            f"{m.upper() if m == 'ap' else 'F1'} {c}" for m, c in piv.columns
        ]
        body = [
            row([text_cell(k) for k in idx] + [num_cell(v) for v in r.to_numpy()])
            for idx, r in piv.iterrows()
        ]
        parts.append("<h3>Per behaviour</h3>")
        parts.append(table(header, body))
    return "\n".join(parts)


def ethogram_section(
    labels: Mapping[str, PathLike],
    predictions: Mapping[tuple, PathLike],
    behaviours: list[str],
    fps_of: Mapping[str, float],
    videos: list[str],
    classifiers: list[str],
) -> str:
    parts = [
        _h2("ethograms", "Ethograms"),
        note(
            "Each band is one animal over the whole video, coloured by behaviour (grey: none). "
            "The truth (where known) above each classifier's prediction."
        ),
    ]
    images = []
    for v in videos:
        rows = []
        if v in labels:
            rows.append(("truth", frame_labels_of(pd.read_parquet(labels[v]), behaviours)))
        for c in classifiers:
            p = predictions.get((c, v))
            if p is not None:
                t = pd.read_parquet(p, columns=["animal", "frame", "label"])
                rows.append((c, t))
        uri = ethogram_figure(rows, behaviours, fps_of.get(v, 1.0), f"{v}")
        if uri:
            images.append(img(uri, f"ethogram of {v}"))
    parts.append(figs(images) if images else note("No predictions."))
    return "\n".join(parts)


def budget_section(budgets: Mapping[tuple, PathLike]) -> str:
    parts = [_h2("budgets", "Time budgets")]
    frames = [pd.read_csv(p).assign(classifier=c) for (c, _v), p in budgets.items()]
    if not frames:
        return "\n".join(parts + [note("No predictions.")])
    df = pd.concat(frames, ignore_index=True)
    cols = ["classifier", "video", "animal", "behaviour"]
    rows = [
        row(
            [text_cell(r[c]) for c in cols]
            + [
                num_cell(r["seconds"], digits=2),
                num_cell(r["share"]),
                num_cell(r["bouts"], integer=True),
                num_cell(r["mean_bout_s"], digits=2),
                num_cell(r["latency_s"], digits=2),
            ]
        )
        for _, r in df.iterrows()
    ]
    parts.append(table(cols + ["seconds", "share", "bouts", "mean bout (s)", "latency (s)"], rows))
    parts.append(
        note(
            "From the predicted bouts (after smoothing). The same bouts are in "
            "results/behaviour/bouts/ as CSV and in results/behaviour/boris/ as "
            "BORIS tabular events files, to review in BORIS."
        )
    )
    return "\n".join(parts)


def confusion_section(confusion: pd.DataFrame) -> str:
    parts = [_h2("confusion", "Confusion matrices")]
    images = []
    keys = ["classifier", "tracker", "video", "reference"]
    for key, g in confusion.groupby(keys, sort=False):
        title = " / ".join(str(k) for k in key)
        uri = confusion_figure(g, title)
        if uri:
            images.append(img(uri, f"confusion {title}"))
    parts.append(figs(images) if images else note("No exclusive behaviour set scored."))
    return "\n".join(parts)


def agreement_section(agreement: pd.DataFrame) -> str:
    if agreement.empty:
        return ""
    cols = ["video", "rater_a", "rater_b", "behaviour"]
    rows = [
        row(
            [text_cell(r[c]) for c in cols]
            + [
                num_cell(r["f1"]),
                num_cell(r["precision"]),
                num_cell(r["recall"]),
                num_cell(r["n_frames"], integer=True),
            ]
        )
        for _, r in agreement.iterrows()
    ]
    return "\n".join(
        [
            _h2("raters", "Inter-rater agreement"),
            table(cols + ["F1", "precision", "recall", "frames"], rows),
            note(
                "Per-frame F1 between two raters on the frames both scored: the ceiling a "
                "classifier is held against (its own F1 per rater is in the table above)."
            ),
        ]
    )


def _example_frames(
    motifs_dir: Path, overlays: Mapping[str, PathLike], tracker: str, per_motif: int = 3
) -> str:
    """Frames of the overlay videos where each motif is on (the middle of its longest bouts)."""
    path = motifs_dir / "assignments.parquet"
    if not overlays or not path.exists():
        return ""
    a = pd.read_parquet(path)
    a = a[(a["tracker"] == tracker) & a["video"].isin(list(overlays))]
    if a.empty:
        return ""
    blocks = []
    for motif, g in a.groupby("motif"):
        if motif < 0:
            continue
        picks = []
        for (video, _animal), h in g.groupby(["video", "animal"]):
            frames = np.sort(h["frame"].to_numpy())
            cut = np.flatnonzero(np.diff(frames) > 1) + 1
            for run in np.split(frames, cut):
                picks.append((len(run), video, int(run[len(run) // 2])))
        picks.sort(reverse=True)
        images = []
        for _, video, frame in picks[:per_motif]:
            try:
                image = read_frames(overlays[video], [frame])[frame]
            except EthoflowError:
                continue
            images.append(img(data_uri(png_bytes(image)), f"motif {motif} {video} {frame}"))
        if images:
            blocks.append(f"<h3>Motif {int(motif)}</h3>" + figs(images))
    return "\n".join(blocks)


def motif_section(
    motifs_dir: PathLike | None,
    labels: Mapping[str, PathLike],
    behaviours: list[str],
    overlays: Mapping[str, PathLike],
    tracker: str,
) -> str:
    parts = [_h2("motifs", "Unsupervised motifs")]
    if motifs_dir is None:
        return "\n".join(parts + [note("Motifs are switched off (behaviour.motifs.enabled).")])
    d = Path(motifs_dir)
    info = read_json(d / "summary.json")
    parts.append(
        note(
            f"Window features of {info.get('sampled', 0)} frames (a bounded random sample) "
            f"embedded by UMAP and clustered by HDBSCAN into {info.get('n_motifs', 0)} motifs; "
            "a classifier fitted on the sample assigns every frame. Fitted in "
            f"{fmt(info.get('fit_seconds'), 1)} s."
        )
    )
    usage = pd.read_csv(d / "usage.csv")
    images = [usage_figure(usage[usage["tracker"] == tracker], "motif usage")]
    trans = pd.read_csv(d / "transitions.csv", index_col=0)
    images.append(matrix_figure(trans, "motif transitions (row: from, column: to)", "magma"))
    prof = pd.read_csv(d / "profiles.csv", index_col=0)
    images.append(matrix_figure(prof, "feature profile (mean z-score)", "coolwarm", center=True))
    parts.append(figs([img(u, "motifs") for u in images if u]))
    ami_rows = []
    a_path = d / "assignments.parquet"
    if labels and a_path.exists():
        a = pd.read_parquet(a_path)
        a = a[a["tracker"] == tracker]
        for v, p in labels.items():
            lab = frame_labels_of(pd.read_parquet(p), behaviours)
            m = lab.merge(a[a["video"] == v], on=["animal", "frame"])
            if len(m):
                ami = motif_label_ami(m["motif"].to_numpy(), m["label"].to_numpy())
                ami_rows.append(row([text_cell(v), num_cell(ami), num_cell(len(m), integer=True)]))
    if ami_rows:
        parts.append("<h3>Motifs against the behaviour labels</h3>")
        parts.append(table(["video", "adjusted mutual information", "frames"], ami_rows))
    parts.append(_example_frames(d, overlays, tracker))
    return "\n".join(parts)


def build_behaviour_report(
    dest: PathLike,
    *,
    metrics: PathLike,
    per_behaviour: PathLike,
    confusion: PathLike,
    agreement: PathLike,
    labels: Mapping[str, PathLike],
    predictions: Mapping[tuple, PathLike],
    budgets: Mapping[tuple, PathLike],
    motifs: PathLike | None,
    overlays: Mapping[str, PathLike],
    settings: Mapping,
    tracker: str,
) -> None:
    """Write the behaviour report to ``dest`` (one self-contained HTML file)."""
    behaviours = list(settings["behaviours"])
    classifiers = list(dict.fromkeys(c for c, _ in predictions))
    videos = list(dict.fromkeys(v for _, v in predictions))
    fps_of = {}
    for (_c, v), p in predictions.items():
        if v not in fps_of:
            t = pd.read_parquet(p, columns=["frame", "time_s"]).head(2)
            fps_of[v] = (
                float(t["frame"].iloc[1] / t["time_s"].iloc[1])
                if len(t) > 1 and t["time_s"].iloc[1] > 0
                else 1.0
            )
    m = pd.read_csv(metrics)
    body = [
        "<h1>ethoflow behaviour report</h1>",
        '<nav><a href="#classifiers">classifiers</a><a href="#ethograms">ethograms</a>'
        '<a href="#budgets">time budgets</a><a href="#confusion">confusion</a>'
        '<a href="#motifs">motifs</a></nav>',
        note(
            f"Behaviours: {esc(', '.join(behaviours))}; features from the "
            f"<b>{esc(tracker)}</b> tracks for the ethograms and budgets."
        ),
        comparison_section(m, pd.read_csv(per_behaviour)),
        agreement_section(pd.read_csv(agreement)),
        ethogram_section(labels, predictions, behaviours, fps_of, videos, classifiers),
        budget_section(budgets),
        confusion_section(pd.read_csv(confusion)),
        motif_section(motifs, labels, behaviours, overlays, tracker),
    ]
    with atomic_path(dest) as tmp:
        Path(tmp).write_text(page("ethoflow behaviour report", body))
    log.info("behaviour report written to %s", dest)
