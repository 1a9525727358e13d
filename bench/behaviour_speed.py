"""Behaviour stage speed on one hour of video: features, TCN inference, bouts, motifs, in one run.

A synthetic one-hour track table (3 animals at 256 px, 30 fps: 108,000 frames x 3 animals;
moving, turning and resting ellipses with RLE masks) is built first (not timed), then timed:

- features: ``compute_features`` on the track table;
- TCN inference: ``make_sequences`` + ``load_tcn(...).predict`` over every frame (the TCN is
  trained for one epoch on a short labelled piece first, not timed);
- bouts: ``predictions_table`` + ``to_bouts`` (with partners) + ``time_budgets``, all animals;
- motif fit: ``fit_motifs`` on its bounded sample (first numba compile included);
- motif assignment of every frame.

The supervised path (features + TCN inference + bouts) is held against a 60 s bar, the motif fit
against 120 s.

    .venv/bin/python bench/behaviour_speed.py [--frames 108000] [--threads 2] [--sample 20000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from pycocotools import mask as mask_utils

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ethoflow.behaviour import bouts as B  # noqa: E402
from ethoflow.behaviour import motifs as MO  # noqa: E402
from ethoflow.io import tracktable  # noqa: E402

SIZE = 256
FPS = 30.0
ANIMALS = ["m1", "m2", "m3"]
STATES = ["rest", "walk", "turn"]  # the simulated behaviour: "rest" is the background
BEHAVIOURS = ["walk", "turn"]
SHAPES = {"rest": (10.0, 8.0), "walk": (15.0, 6.0), "turn": (12.0, 7.5)}  # semi-axes (px)
N_ANGLES = 36
MARGIN = 24


class MaskCache:
    """Ellipse masks by (state, angle bin) as uncompressed column-major runs at the origin; a
    shifted copy is the same runs with the first and last run changed (no wrap: the margin)."""

    def __init__(self):
        self.runs, self.geom = {}, {}
        yy, xx = np.mgrid[0:SIZE, 0:SIZE] + 0.5
        c = SIZE / 2
        for s, (a, b) in SHAPES.items():
            for k in range(N_ANGLES):
                th = np.pi * k / N_ANGLES
                u = (xx - c) * np.cos(th) + (yy - c) * np.sin(th)
                v = -(xx - c) * np.sin(th) + (yy - c) * np.cos(th)
                m = (u / a) ** 2 + (v / b) ** 2 <= 1.0
                flat = m.T.ravel().astype(np.int8)  # column-major
                change = np.flatnonzero(np.diff(np.r_[0, flat, 0])) if flat.any() else []
                starts, stops = change[0::2], change[1::2]
                runs = [int(starts[0])]
                for i in range(len(starts)):
                    runs.append(int(stops[i] - starts[i]))
                    if i + 1 < len(starts):
                        runs.append(int(starts[i + 1] - stops[i]))
                runs.append(int(SIZE * SIZE - stops[-1]))
                self.runs[s, k] = runs
                ys, xs = np.nonzero(m)
                self.geom[s, k] = (
                    xs.min(),
                    ys.min(),
                    xs.max() + 1,
                    ys.max() + 1,
                    xs.mean() + 0.5,
                    ys.mean() + 0.5,
                    len(xs),
                )

    def rle(self, state: str, k: int, dx: int, dy: int) -> dict:
        runs = list(self.runs[state, k])
        off = dx * SIZE + dy
        runs[0] += off
        runs[-1] -= off
        return {"size": [SIZE, SIZE], "counts": runs}


def simulate(n: int, seed: int = 0):
    """Per animal: states [n] (ids into STATES), integer centre offsets and angle bins."""
    rng = np.random.default_rng(seed)
    out = {}
    for a in ANIMALS:
        state = np.zeros(n, dtype=np.int64)
        pos = np.zeros((n, 2))
        ang = np.zeros(n)
        p = rng.uniform(MARGIN + 10, SIZE - MARGIN - 10, 2)
        th = rng.uniform(0, 2 * np.pi)
        f = 0
        while f < n:
            s = int(rng.choice(3, p=[0.4, 0.4, 0.2]))
            length = int(rng.integers(int(0.5 * FPS), int(4 * FPS)))
            omega = rng.choice([-1, 1]) * rng.uniform(1.5, 3.0) / FPS
            for g in range(f, min(n, f + length)):
                if s == 1:
                    step = 70.0 / FPS * np.array([np.cos(th), np.sin(th)])
                    nxt = p + step
                    if not ((MARGIN < nxt) & (nxt < SIZE - MARGIN)).all():
                        th += np.pi / 2 + rng.uniform(0, np.pi / 2)
                        nxt = p
                    p = nxt
                    th += rng.normal(0, 0.02)
                elif s == 2:
                    th += omega
                state[g], pos[g], ang[g] = s, p, th
            f += length
        out[a] = (state, pos, ang)
    return out


def track_table(n: int, dest: Path, seed: int = 0) -> dict:
    """Write the synthetic track table; return the simulated states per animal."""
    cache = MaskCache()
    sim = simulate(n, seed)
    rng = np.random.default_rng(seed + 1)
    rows = []
    for a, (state, pos, ang) in sim.items():
        k = np.round((ang % np.pi) / np.pi * N_ANGLES).astype(int) % N_ANGLES
        d = np.round(pos - SIZE / 2).astype(int)
        keep = rng.random(n) > 0.002  # a few frames without the animal
        objs, geo = [], []
        for f in np.flatnonzero(keep):
            s = STATES[state[f]]
            objs.append(cache.rle(s, k[f], d[f, 0], d[f, 1]))
            geo.append(
                np.asarray(cache.geom[s, k[f]], dtype=float)
                + [d[f, 0], d[f, 1], d[f, 0], d[f, 1], d[f, 0], d[f, 1], 0]
            )
        enc = mask_utils.frPyObjects(objs, SIZE, SIZE)
        masks = [{"size": [SIZE, SIZE], "counts": e["counts"].decode("ascii")} for e in enc]
        g = np.asarray(geo)
        frames = np.flatnonzero(keep)
        rows.append(
            pd.DataFrame(
                {
                    "video": "bench",
                    "model": "bench",
                    "frame": frames,
                    "time_s": frames / FPS,
                    "identity": a,
                    "score": 0.99,
                    "x1": g[:, 0],
                    "y1": g[:, 1],
                    "x2": g[:, 2],
                    "y2": g[:, 3],
                    "cx": g[:, 4],
                    "cy": g[:, 5],
                    "area": g[:, 6].astype(np.int64),
                    "mask": masks,
                    "source": "detected",
                }
            )
        )
    tracktable.write(pd.concat(rows, ignore_index=True), dest)
    return {a: s for a, (s, _, _) in sim.items()}


def window_columns(meta: dict) -> list[str]:
    """The motif step's columns (``ethoflow.behaviour.steps.window_columns``)."""
    try:
        from ethoflow.behaviour.steps import window_columns as of_steps
    except ImportError:  # a module the steps import is missing: the same rule here
        from ethoflow.behaviour.features import feature_columns

        cols = [c for c in feature_columns(meta) if c.endswith("s") and "_w" in c]
        return cols or feature_columns(meta)
    return of_steps(meta)


def label_table(states: dict, n: int) -> pd.DataFrame:
    parts = []
    for a, s in states.items():
        parts.append(
            pd.DataFrame(
                {
                    "animal": a,
                    "frame": np.arange(n, dtype=np.int64),
                    "scored": True,
                    **{b: (s[:n] == STATES.index(b)).astype(np.int8) for b in BEHAVIOURS},
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def sequences(feats, columns, labels=None):
    """``make_sequences``; where it fails writing into a read-only view of float32 columns
    (pandas copy-on-write), again on float64 columns (a copy; its cost is timed too)."""
    from ethoflow.behaviour.dataset import make_sequences

    try:
        return make_sequences(feats, columns, labels, behaviours=BEHAVIOURS, exclusive=True)
    except ValueError as e:
        if "read-only" not in str(e):
            raise
        print(f"note: make_sequences failed ({e}); retried on float64 feature columns")
        f64 = feats.astype({c: np.float64 for c in columns})
        return make_sequences(f64, columns, labels, behaviours=BEHAVIOURS, exclusive=True)


def train_short_tcn(feats, columns, states, n_train, workdir, threads):
    from ethoflow.behaviour import tcn

    short = feats[feats["frame"] < n_train]
    lab = label_table(states, n_train).assign(video="bench")
    seqs = sequences(short, columns, lab)
    settings = {**tcn.DEFAULT_TCN, "epochs": 1, "threads": threads}
    dest = Path(workdir) / "tcn.pt"
    tcn.train_tcn(
        seqs,
        settings=settings,
        workdir=Path(workdir) / "work",
        dest=dest,
        progress=None,
        device="cpu",
        columns=columns,
        behaviours=BEHAVIOURS,
        exclusive=True,
    )
    return tcn.load_tcn(dest, columns)


def tcn_inference(feats, columns, states, n, args, tmp, times):
    """Train the short TCN (not timed), then time sequences + prediction over every frame.
    Without the TCN modules: a note, and stand-in probabilities (from speed) for the bouts."""
    try:
        from ethoflow.behaviour import dataset, tcn  # noqa: F401
    except ImportError as e:
        print(f"TCN: not available ({e}); bouts timed on stand-in probabilities")
        times["tcn inference"] = float("nan")
        seqs, probs = [], []
        for a, g in feats.groupby("animal", sort=False):
            v = np.nan_to_num(g["speed"].to_numpy(dtype=np.float32))
            w = np.nan_to_num(np.abs(g["angular_velocity"].to_numpy(dtype=np.float32)))
            logits = np.c_[v / (v.std() + 1e-6), w / (w.std() + 1e-6), np.ones_like(v)]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            seqs.append(SimpleNamespace(video="bench", animal=a, frames=g["frame"].to_numpy()))
            probs.append(p / p.sum(axis=1, keepdims=True))
        return seqs, probs, BEHAVIOURS + ["none"]
    t0 = time.perf_counter()
    n_train = min(args.train_frames, n)
    model = train_short_tcn(feats, columns, states, n_train, tmp, args.threads)
    print(
        f"TCN: trained 1 epoch on {n_train} frames per animal in "
        f"{time.perf_counter() - t0:.1f} s (not timed)"
    )
    t0 = time.perf_counter()
    seqs = sequences(feats, columns)
    probs = model.predict(seqs)
    times["tcn inference"] = time.perf_counter() - t0
    return seqs, probs, list(model.classes)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--frames", type=int, default=108_000, help="frames per animal")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sample", type=int, default=20_000, help="motif fitting sample")
    ap.add_argument("--train-frames", type=int, default=3000)
    args = ap.parse_args()
    import torch

    from ethoflow.behaviour.features import compute_features, feature_columns

    torch.set_num_threads(args.threads)
    n = args.frames
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        states = track_table(n, Path(tmp) / "tracks.parquet")
        tracks = tracktable.read(Path(tmp) / "tracks.parquet")
        print(
            f"setup: {len(tracks)} track rows ({len(ANIMALS)} animals x {n} frames at "
            f"{SIZE} px, {FPS:.0f} fps) in {time.perf_counter() - t0:.1f} s (not timed)"
        )
        times = {}
        t0 = time.perf_counter()
        feats, meta = compute_features(
            fps=FPS,
            animals=ANIMALS,
            n_frames=n,
            tracks=tracks,
            video="bench",
            landmarks=(),
            px_per_mm=None,
            windows_s=(0.5, 1.0),
            progress=None,
        )
        times["features"] = time.perf_counter() - t0
        columns = feature_columns(meta)
        print(f"features: {len(feats)} rows x {len(columns)} columns")

        seqs, probs, classes = tcn_inference(feats, columns, states, n, args, tmp, times)

        t0 = time.perf_counter()
        pred = pd.concat(
            [
                B.predictions_table(
                    s.video,
                    s.animal,
                    s.frames,
                    p,
                    classes,
                    BEHAVIOURS,
                    True,
                    fps=FPS,
                    min_bout_s=0.2,
                    merge_gap_s=0.2,
                )
                for s, p in zip(seqs, probs)
            ],
            ignore_index=True,
        )
        bt = B.to_bouts(pred, BEHAVIOURS, fps=FPS, partners=feats[["animal", "frame", "partner"]])
        bud = B.time_budgets(
            bt, n_frames={a: n for a in ANIMALS}, fps=FPS, behaviours=BEHAVIOURS, video="bench"
        )
        times["bouts"] = time.perf_counter() - t0
        print(f"bouts: {len(pred)} prediction rows -> {len(bt)} bouts, {len(bud)} budget rows")

        wcols = window_columns(meta)
        X = feats[wcols].to_numpy(dtype=np.float32)
        t0 = time.perf_counter()
        motifs = MO.fit_motifs(X, sample=args.sample, seed=0)
        times["motif fit"] = time.perf_counter() - t0
        ok = (feats["status"] != "missing").to_numpy()
        t0 = time.perf_counter()
        lab = MO.assign(motifs, X[ok])
        times["motif assignment"] = time.perf_counter() - t0
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in motifs.fit_seconds.items())
        print(
            f"motifs: {motifs.n_motifs} motifs on {len(wcols)} window columns, sample "
            f"{len(motifs.sample_index)}; fit: {parts}"
        )
        sim = np.asarray(STATES, dtype=object)
        animal, frame = feats["animal"].to_numpy()[ok], feats["frame"].to_numpy()[ok]
        truth = np.empty(len(animal), dtype=object)
        for a in ANIMALS:
            sel = animal == a
            truth[sel] = sim[states[a][frame[sel]]]
        print(f"motifs vs simulated states: AMI {MO.motif_label_ami(lab, truth):.3f}")

    print()
    for k, v in times.items():
        if not np.isfinite(v):
            print(f"{k:18s}:      n/a")
            continue
        rate = len(ANIMALS) * n / v if v > 0 else float("inf")
        print(f"{k:18s}: {v:8.2f} s  ({rate:10.0f} animal-frames/s)")
    sup = times["features"] + np.nan_to_num(times["tcn inference"]) + times["bouts"]
    scale = 108_000 / n
    print(
        f"supervised path (features + TCN inference + bouts): {sup:.2f} s; "
        f"ratio to the 60 s bar: {sup / 60:.3f}"
        + (f" (x{scale:.1f} for one hour: ~{sup * scale:.0f} s)" if n != 108_000 else "")
    )
    print(
        f"motif fit: {times['motif fit']:.2f} s; ratio to the 120 s bar: "
        f"{times['motif fit'] / 120:.3f}"
    )


if __name__ == "__main__":
    main()
