"""The behaviour stage's workflow steps: what each rule of ``rules/behaviour.smk`` does, as one
function per rule over files (the scripts only pass Snakemake's paths and settings on).

Settings are the config's ``behaviour`` section (:data:`ethoflow.defaults.BEHAVIOUR`).
The TCN module (torch) is imported only by the steps that use it, so that every other step runs
in the torch-free ``base`` environment.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow.behaviour import bouts as B
from ethoflow.behaviour import evaluate as E
from ethoflow.behaviour.features import (
    compute_features,
    feature_columns,
    read_features,
    write_features,
)
from ethoflow.behaviour.labels import LabelSpec, agreement, frame_labels, majority_vote, read_labels
from ethoflow.defaults import BEHAVIOUR
from ethoflow.io import EthoflowError, atomic_path, read_json, tracktable, write_json
from ethoflow.io.keypoints import read_keypoints

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
LABEL = "label"  # the reference the classifiers learn from (the chosen rater or the majority)
MIN_MOTIF_FRAMES = 200  # fewer tracked frames of the train tracker: motifs fit on every tracker


def merged_settings(settings: Mapping | None) -> dict:
    """The config's ``behaviour`` section over the defaults table (nested tables merged)."""
    out = {k: (dict(v) if isinstance(v, dict) else v) for k, v in BEHAVIOUR.items()}
    for k, v in (settings or {}).items():
        out[k] = {**out.get(k, {}), **v} if isinstance(v, dict) and k in out else v
    return out


def classes_of(settings: Mapping) -> list[str]:
    """The classifiers' output classes: the behaviours, and "none" for an exclusive set."""
    beh = list(settings["behaviours"])
    return beh + ["none"] if settings["exclusive"] else beh


def write_parquet(df: pd.DataFrame, dest: PathLike) -> None:
    with atomic_path(dest, suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


# --------------------------------------------------------------------------------------------
# features


def features_step(
    source, dest, *, tracker, video, identities, settings=None, probe=None, progress=None
) -> None:
    """Features of one video from a track table (models, truth) or a pose file ("pose")."""
    s = merged_settings(settings)
    common = dict(
        video=video,
        landmarks=tuple(s["landmarks"]),
        edge_nodes=s["edge_nodes"],
        px_per_mm=s["px_per_mm"],
        windows_s=tuple(s["windows_s"]),
        smooth_s=float(s["smooth_s"]),
        progress=progress,
    )
    if tracker == "pose":
        ks = read_keypoints(source)
        fps = s["fps"]
        if probe:
            fps = read_json(probe)["fps"]
        if not fps:
            raise EthoflowError(
                f"{source}: a pose-only video needs its frame rate: set behaviour.fps"
            )
        n_frames = int(read_json(probe)["n_frames"]) if probe else None
        df, meta = compute_features(
            fps=float(fps),
            animals=list(ks.identities),
            n_frames=n_frames,
            keypoints=ks,
            **common,
        )
    else:
        tracks = tracktable.read(source)
        if "video" in tracks and (tracks["video"] == video).any():
            tracks = tracks[tracks["video"] == video]
        info = read_json(probe) if probe else {}
        fps = float(info.get("fps") or s["fps"] or 0)
        if not fps:
            raise EthoflowError(f"{source}: no frame rate (no probe and no behaviour.fps)")
        df, meta = compute_features(
            fps=fps,
            animals=list(identities),
            n_frames=info.get("n_frames"),
            tracks=tracks,
            **common,
        )
    meta["tracker"] = tracker
    write_features(df, meta, dest)
    log.info(
        "%s/%s: %d rows, %d feature columns", tracker, video, len(df), len(feature_columns(meta))
    )


# --------------------------------------------------------------------------------------------
# labels


def label_spec(settings: Mapping) -> LabelSpec:
    return LabelSpec(
        behaviours=list(settings["behaviours"]),
        mapping=dict(settings["mapping"]),
        ignore=list(settings["ignore"]),
        span_types=list(settings["span_types"]),
        exclusive=bool(settings["exclusive"]),
        overlap=settings["overlap"],
        raters=settings["raters"],
    )


def labels_step(label_file, features, table_dest, info_dest, *, fmt, settings=None) -> None:
    """One video's label file -> its frame label table (``reference`` "label" = what the
    classifiers learn from; with several raters also one reference per rater) and an info file
    (raters, counts of clipped / dropped / resolved bouts, pairwise agreement)."""
    s = merged_settings(settings)
    feats, meta = read_features(features)
    fps = float(meta["fps"])
    n_frames = int(feats["frame"].max()) + 1 if len(feats) else 0
    animals = list(meta["animals"])
    bouts = read_labels(label_file, fmt, fps=fps, behaviours=list(s["behaviours"]))
    spec = label_spec(s)
    raters = sorted(set(bouts["rater"])) if len(bouts) else [""]
    # the scored span is the session's: from the first rater's start mark to the last one's
    # end mark (raters mark the start a few frames apart; a bout one of them scored before
    # another's mark is still inside the session)
    marks = bouts[bouts["type"].isin(spec.span_types)]
    tables, counts = {}, {}
    for r in raters:
        own = bouts[bouts["rater"] == r]
        others = marks[marks["rater"] != r].assign(rater=r)
        t, c = frame_labels(
            pd.concat([own, others], ignore_index=True),
            spec,
            n_frames=n_frames,
            fps=fps,
            animals=animals,
        )
        tables[r], counts[r] = t, c
    if len(raters) == 1:
        chosen = tables[raters[0]]
    elif spec.raters == "majority":
        chosen = majority_vote(tables)
    elif spec.raters in tables:
        chosen = tables[spec.raters]
    else:
        raise EthoflowError(
            f"{label_file}: behaviour.raters is {spec.raters!r}, the file's raters are {raters}"
        )
    parts = [chosen.assign(reference=LABEL)]
    if len(raters) > 1:
        parts += [t.assign(reference=r) for r, t in tables.items()]
    agree = agreement(tables, list(s["behaviours"])) if len(raters) > 1 else pd.DataFrame()
    write_parquet(pd.concat(parts, ignore_index=True), table_dest)
    write_json(
        {
            "file": str(label_file),
            "format": fmt,
            "raters": raters,
            "reference": spec.raters if len(raters) > 1 else (raters[0] or "the only rater"),
            "counts": counts,
            "agreement": agree.to_dict("records"),
        },
        info_dest,
    )
    for r, c in counts.items():
        log.info("%s: rater %r: %s", label_file, r, c)


def read_label_table(path: PathLike, reference: str = LABEL) -> pd.DataFrame:
    t = pd.read_parquet(path)
    return t[t["reference"] == reference].drop(columns="reference")


# --------------------------------------------------------------------------------------------
# metrics


def _truth_bouts(table: pd.DataFrame, behaviours, fps) -> pd.DataFrame:
    t = table.copy()
    t.loc[~t["scored"].astype(bool), behaviours] = 0
    return B.to_bouts(t, behaviours, fps=fps)


def score_run(pred: pd.DataFrame, truth: pd.DataFrame, s: Mapping, fps: float):
    """Per-frame and bout scores of one prediction table against one frame label table."""
    behaviours = list(s["behaviours"])
    classes = classes_of(s)
    m = truth.merge(pred, on=["animal", "frame"], suffixes=("_true", ""))
    m = m[m["scored"].astype(bool)]
    y_true = m[[f"{b}_true" for b in behaviours]].to_numpy(dtype=int)
    y_pred = m[behaviours].to_numpy(dtype=int)
    probs = m[[f"prob_{c}" for c in classes]].to_numpy(dtype=float)
    if s["exclusive"]:
        y_true = np.c_[y_true, (y_true.sum(1) == 0).astype(int)]
        y_pred = np.c_[y_pred, (y_pred.sum(1) == 0).astype(int)]
    frame = E.frame_scores(y_true, probs, y_pred, classes)
    tb = _truth_bouts(truth, behaviours, fps)
    scored = truth[truth["scored"].astype(bool)][["animal", "frame"]]
    pb = B.to_bouts(pred.merge(scored, on=["animal", "frame"]), behaviours, fps=fps)
    tb = tb.assign(video="v")
    pb = pb.assign(video="v")
    bout = E.bout_f1(tb, pb, iou=0.5)
    conf = None
    if s["exclusive"]:
        tl = np.array(classes, dtype=object)[y_true.argmax(1)]
        pl = np.array(classes, dtype=object)[y_pred.argmax(1)]
        conf = E.confusion(tl, pl, classes)
    return frame, bout, conf, len(m)


def metrics_step(
    *,
    predictions: Mapping[tuple, PathLike],
    labels: Mapping[str, PathLike],
    infos: Mapping[str, PathLike],
    oof: Mapping[str, PathLike],
    labelled,
    settings=None,
    out: Mapping[str, PathLike],
    train_tracker: str = "",
) -> None:
    """Score every (classifier, tracker, video) against the truth (every reference: the label
    and each rater), and each classifier's out-of-fold predictions; write the metrics tables."""
    s = merged_settings(settings)
    rows, per_beh, confs = [], [], []
    refs = {v: pd.read_parquet(p) for v, p in labels.items()}

    def add(c, t, v, split, pred, fps):
        for ref, truth in refs[v].groupby("reference", sort=False):
            truth = truth.drop(columns="reference")
            frame, bout, conf, n = score_run(pred, truth, s, fps)
            key = dict(
                classifier=c,
                tracker=t,
                video=v,
                split=split,
                reference="truth" if ref == LABEL else ref,
            )
            rows.append(
                {
                    **key,
                    "macro_f1": frame["macro_f1"],
                    "map": frame["map"],
                    "bout_f1": bout["f1"],
                    "bout_precision": bout["precision"],
                    "bout_recall": bout["recall"],
                    "n_frames": n,
                }
            )
            for b in s["behaviours"]:
                pc = frame["per_class"].get(b, {})
                pb = bout["per_behaviour"].get(b, {})
                per_beh.append(
                    {
                        **key,
                        "behaviour": b,
                        "f1": pc.get("f1"),
                        "precision": pc.get("precision"),
                        "recall": pc.get("recall"),
                        "ap": pc.get("ap"),
                        "support": pc.get("support"),
                        "bout_f1": pb.get("f1"),
                    }
                )
            if conf is not None:
                cf = conf.stack().rename("count").reset_index()
                cf.columns = ["true", "predicted", "count"]
                confs.append(cf.assign(**key))

    for (c, t, v), p in predictions.items():
        pred = pd.read_parquet(p)
        fps = _fps(pred)
        add(c, t, v, "train" if v in labelled else "test", pred, fps)
    for c, p in oof.items():
        pred = pd.read_parquet(p)
        for v, g in pred.groupby("video") if len(pred) else []:
            if v in refs:
                add(c, train_tracker or "train", v, "cv", g, _fps(g))
    agree = [pd.DataFrame(read_json(p)["agreement"]).assign(video=v) for v, p in infos.items()]
    agree = [a for a in agree if len(a)]
    _write_csv(pd.DataFrame(rows), out["metrics"])
    _write_csv(pd.DataFrame(per_beh), out["per_behaviour"])
    _write_csv(
        pd.concat(confs, ignore_index=True)
        if confs
        else pd.DataFrame(
            columns=[
                "true",
                "predicted",
                "count",
                "classifier",
                "tracker",
                "video",
                "split",
                "reference",
            ]
        ),
        out["confusion"],
    )
    _write_csv(
        pd.concat(agree, ignore_index=True)
        if agree
        else pd.DataFrame(
            columns=[
                "video",
                "rater_a",
                "rater_b",
                "behaviour",
                "f1",
                "precision",
                "recall",
                "n_frames",
            ]
        ),
        out["agreement"],
    )
    for r in rows:
        log.info(
            "%(classifier)s %(tracker)s %(video)s %(split)s %(reference)s: macro F1 "
            "%(macro_f1).3f, bout F1 %(bout_f1).3f",
            r,
        )


def _fps(pred: pd.DataFrame) -> float:
    t = pred[pred["frame"] > 0].head(1)
    if not len(t):
        return 1.0
    return float(t["frame"].iloc[0] / t["time_s"].iloc[0])


def _write_csv(df: pd.DataFrame, dest: PathLike) -> None:
    with atomic_path(dest, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


# --------------------------------------------------------------------------------------------
# motifs


def window_columns(meta: Mapping) -> list[str]:
    """The window statistics (what motifs are fitted on); all features when there are none."""
    return list(meta.get("window_columns") or []) or feature_columns(meta)


def motifs_step(
    features: Mapping[tuple, PathLike],
    dest_dir,
    *,
    settings=None,
    train_tracker: str,
    progress=None,
) -> None:
    """Fit motifs on the train tracker's window features (a bounded sample) and assign every
    frame of every (tracker, video); write usage, transitions, profiles and assignments."""
    from ethoflow.behaviour import motifs as MO
    from ethoflow.io import atomic_dir

    s = merged_settings(settings)
    ms = s["motifs"]
    tables = {k: read_features(p) for k, p in features.items()}
    fit_keys = [k for k in tables if k[0] == train_tracker] or list(tables)
    columns = window_columns(tables[fit_keys[0]][1])

    def seen(keys):  # the frames where the animal was tracked
        return np.concatenate(
            [
                _rows(tables[k][0], columns)[(tables[k][0]["status"] != "missing").to_numpy()]
                for k in keys
            ]
        )

    fit_x = seen(fit_keys)
    if len(fit_x) < MIN_MOTIF_FRAMES:  # the train tracker found (almost) nothing
        log.warning(
            "motifs: %s tracks hold %d frames: fitting on every tracker's",
            train_tracker,
            len(fit_x),
        )
        fit_keys = list(tables)
        fit_x = seen(fit_keys)
    t0 = time.perf_counter()
    model = MO.fit_motifs(fit_x, sample=int(ms["sample"]), seed=int(ms["seed"]))
    fit_s = time.perf_counter() - t0
    n = model.n_motifs
    assign, usage, seqs_labels = [], [], []
    for (t, v), (df, meta) in tables.items():
        ok = df["status"] != "missing"
        sub = df[ok]
        lab = MO.assign(model, _rows(df, columns)[ok.to_numpy()])
        a = pd.DataFrame(
            {
                "tracker": t,
                "video": v,
                "animal": sub["animal"].to_numpy(),
                "frame": sub["frame"].to_numpy(),
                "motif": lab,
            }
        )
        assign.append(a)
        fps = float(meta["fps"])
        share = MO.usage(lab, n)
        dur = MO.mean_durations(lab, fps)
        usage += [
            dict(
                tracker=t,
                video=v,
                motif=m,
                share=float(share[m]),
                mean_duration_s=float(dur[m]) if m < len(dur) else np.nan,
            )
            for m in range(n)
        ]
        if t == train_tracker or (t, v) in fit_keys:
            seqs_labels += [g["motif"].to_numpy() for _, g in a.groupby("animal")]
    trans = MO.transitions(seqs_labels, n)
    prof = MO.profiles(model, fit_x, MO.assign(model, fit_x), columns)
    with atomic_dir(dest_dir) as tmp:
        tmp = Path(tmp)
        write_parquet(pd.concat(assign, ignore_index=True), tmp / "assignments.parquet")
        pd.DataFrame(usage).to_csv(tmp / "usage.csv", index=False)
        pd.DataFrame(trans, index=range(n), columns=range(n)).to_csv(tmp / "transitions.csv")
        prof.to_csv(tmp / "profiles.csv")
        MO.save_motifs(model, tmp / "model.pkl")
        write_json(
            {
                "n_motifs": int(n),
                "sampled": int(min(len(fit_x), int(ms["sample"]))),
                "fit_seconds": round(fit_s, 2),
                "columns": columns,
                "fit_on": [list(k) for k in fit_keys],
            },
            tmp / "summary.json",
        )
    log.info("motifs: %d motifs fitted in %.1f s on %s", n, fit_s, train_tracker)


def _rows(df: pd.DataFrame, columns: list[str]) -> np.ndarray:
    return df[columns].to_numpy(dtype=np.float32)
