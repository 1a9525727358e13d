"""Training and prediction steps of the behaviour stage (rules ``behaviour_train`` and
``behaviour_predict``, in the ``torch`` environment): one classifier kind (the TCN or the tree
baseline) fitted on the labelled videos' features, optionally scored by block cross-validation,
and applied to one video's features -> predictions, bouts, time budgets and a BORIS file."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ethoflow.behaviour import bouts as B
from ethoflow.behaviour import evaluate as E
from ethoflow.behaviour.dataset import make_sequences
from ethoflow.behaviour.features import feature_columns, read_features
from ethoflow.behaviour.steps import classes_of, merged_settings, read_label_table, write_parquet
from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _load_training(features: list[PathLike], labels: list[PathLike], s: Mapping):
    frames, columns, metas = [], None, []
    for f in features:
        df, meta = read_features(f)
        cols = feature_columns(meta)
        if columns is None:
            columns = cols
        elif cols != columns:
            raise EthoflowError(f"{f}: its feature columns differ from those of {features[0]}")
        frames.append(df)
        metas.append(meta)
    feats = pd.concat(frames, ignore_index=True)
    labs = []
    for f, df in zip(labels, frames):
        t = read_label_table(f)
        t["video"] = df["video"].iloc[0] if len(df) else ""
        labs.append(t)
    lab = pd.concat(labs, ignore_index=True)
    seqs = make_sequences(
        feats, columns, lab, behaviours=list(s["behaviours"]), exclusive=bool(s["exclusive"])
    )
    return seqs, columns, metas


def _fitter(classifier: str, s: Mapping, columns, workdir, progress, threads):
    """(fit(seqs, dest|None) -> model, load(path) -> model) of one classifier kind."""
    common = dict(columns=columns, behaviours=list(s["behaviours"]), exclusive=bool(s["exclusive"]))
    if classifier == "tcn":
        from ethoflow.behaviour import tcn

        settings = {**tcn.DEFAULT_TCN, **s["tcn"], "threads": threads}

        def fit(seqs, dest, workdir=workdir):
            return tcn.train_tcn(
                seqs,
                settings=settings,
                workdir=workdir,
                dest=dest,
                progress=progress,
                device=settings.get("device", "cpu"),
                **common,
            )

        return fit, tcn.load_tcn
    if classifier == "trees":
        from ethoflow.behaviour import trees

        settings = {**trees.DEFAULT_TREES, **s["trees"]}

        def fit(seqs, dest, workdir=None):
            model = trees.fit_trees(seqs, settings=settings, seed=settings.get("seed", 0), **common)
            if dest is not None:
                trees.save_trees(model, dest)
            return model

        return fit, trees.load_trees
    raise EthoflowError(f"behaviour.classifiers: unknown classifier {classifier!r}")


def _tables_of(seqs, probs, s: Mapping, fps: float) -> pd.DataFrame:
    out = [
        B.predictions_table(
            seq.video,
            seq.animal,
            seq.frames,
            p,
            classes_of(s),
            list(s["behaviours"]),
            bool(s["exclusive"]),
            fps=fps,
            min_bout_s=s["bouts"]["min_bout_s"],
            merge_gap_s=s["bouts"]["merge_gap_s"],
        )
        for seq, p in zip(seqs, probs)
    ]
    return pd.concat(out, ignore_index=True) if out else pd.DataFrame()


def train_step(
    classifier,
    features,
    labels,
    *,
    model_dest,
    oof_dest,
    log_csv,
    settings=None,
    checkpoint=None,
    threads=2,
    progress=None,
) -> None:
    """Train one classifier on the labelled videos; with ``cv_blocks`` > 1 also write its pooled
    out-of-fold predictions (each contiguous block predicted by a model fitted on the others)."""
    s = merged_settings(settings)
    t0 = time.perf_counter()
    if classifier == "tcn" and s["tcn"].get("weights"):
        return _reuse_tcn(
            s["tcn"]["weights"],
            features,
            model_dest,
            oof_dest,
            log_csv,
            auxiliary=s["tcn"].get("auxiliary"),
        )
    seqs, columns, metas = _load_training(list(features), list(labels), s)
    if not seqs:
        raise EthoflowError("behaviour training: no labelled frames")
    fps = float(metas[0]["fps"])
    workdir = Path(checkpoint) if checkpoint else Path(model_dest).parent / "work"
    fit, _ = _fitter(classifier, s, columns, workdir / "full", progress, threads)
    model = fit(seqs, model_dest)
    history = getattr(model, "history", None)
    hist = pd.DataFrame(history if history is not None else [])
    with atomic_path(log_csv, suffix=".csv") as tmp:
        hist.to_csv(tmp, index=False)
    oof = pd.DataFrame()
    n_blocks = int(s["cv_blocks"])
    if n_blocks > 1:
        fold = {"k": 0}

        def fit_fold(train_seqs):
            fold["k"] += 1
            f, _ = _fitter(classifier, s, columns, workdir / f"fold{fold['k']}", None, threads)
            return f(train_seqs, None, workdir=workdir / f"fold{fold['k']}")

        probs = E.cross_validate(seqs, n_blocks, fit_fold, lambda m, xs: m.predict(xs))
        oof = _tables_of(seqs, probs, s, fps)
        log.info("%s: %d-block cross-validation done", classifier, n_blocks)
    write_parquet(oof, oof_dest)
    log.info(
        "%s: trained on %d sequences in %.1f s", classifier, len(seqs), time.perf_counter() - t0
    )


def _reuse_tcn(weights, features, model_dest, oof_dest, log_csv, auxiliary=None) -> None:
    """A TCN trained elsewhere (``behaviour.tcn.weights``): checked against this project's
    feature schema, then used as this run's model (its own auxiliary heads, if any)."""
    import shutil

    from ethoflow.behaviour import tcn

    for f in features[:1]:
        model = tcn.load_tcn(weights, feature_columns(read_features(f)[1]))
        if auxiliary and auxiliary != model.auxiliary:
            log.warning(
                "tcn: behaviour.tcn.auxiliary %s is for training; %s was trained with %s",
                auxiliary,
                weights,
                model.auxiliary or "none",
            )
    with atomic_path(model_dest) as tmp:
        shutil.copyfile(weights, tmp)
    write_parquet(pd.DataFrame(), oof_dest)
    with atomic_path(log_csv, suffix=".csv") as tmp:
        pd.DataFrame().to_csv(tmp, index=False)
    log.info("tcn: using the trained weights %s", weights)


def predict_step(
    model, features, *, classifier, settings=None, predictions, bouts, budgets, boris, threads=1
) -> None:
    """One classifier on one video's features -> per-frame predictions, bouts, time budgets and
    a BORIS file of the bouts."""
    s = merged_settings(settings)
    feats, meta = read_features(features)
    columns = feature_columns(meta)
    fps = float(meta["fps"])
    _, load = _fitter(classifier, s, columns, None, None, threads)
    clf = load(model, columns)
    seqs = make_sequences(
        feats, columns, None, behaviours=list(s["behaviours"]), exclusive=bool(s["exclusive"])
    )
    pred = _tables_of(seqs, clf.predict(seqs), s, fps)
    write_parquet(pred, predictions)
    video = str(feats["video"].iloc[0]) if len(feats) else ""
    bt = B.to_bouts(
        pred, list(s["behaviours"]), fps=fps, partners=feats[["animal", "frame", "partner"]]
    )
    n_frames = {a: int(g["frame"].max()) + 1 for a, g in feats.groupby("animal")}
    bud = B.time_budgets(
        bt, n_frames=n_frames, fps=fps, behaviours=list(s["behaviours"]), video=video
    )
    B.export_bouts(
        bt,
        bud,
        bouts_csv=bouts,
        budgets_csv=budgets,
        boris_path=boris,
        fps=fps,
        observation_id=video,
    )
