"""Per-video measures -> per-cohort and per-group aggregates (rule ``aggregate``).

Every per-video table of a run is read into one long table of *measures*, one row per
``(video, source, animal, measure)`` (``animal`` is ``"all"`` for a video's own figure: the
mean over its animals for per-animal measures), with the video's cohort, group and condition
columns beside it:

- tracking metrics (``results/metrics/summary.parquet``, per model x video): ``mota, idf1,
  hota, identity_accuracy, id_switches`` where there is truth, ``detection_rate, area_cv``
  everywhere;
- kinematics from the track tables (detected and interpolated rows, per identity), in pixels
  of the original video (a video run on a copy shrunk by ``downscale`` is scaled back):
  ``speed_px_s`` (mean centroid speed over consecutive frames), ``distance_px`` (path length)
  and ``moving_share`` (share of frame steps faster than ``moving_px_s``);
- quality checks of the tracks (``results/qa/tracks/...``): ``qa_flagged_frames``,
  ``qa_flagged_share`` (of the frames tracked) and per check ``qa_<check>`` (rows flagged);
- behaviour time budgets (``results/behaviour/budgets/...``): ``<behaviour>_share`` and
  ``<behaviour>_bouts`` per animal, source ``<classifier>/<tracker>``.

:func:`group_table` summarises the ``animal == "all"`` rows per cohort and per group (``n,
mean, sd, median, min, max`` and the per-video values); :func:`two_group_tests` runs the
Mann-Whitney U test (scipy) between the pairs of groups the config asks for. No other
statistics.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from ethoflow.io import EthoflowError, atomic_path

log = logging.getLogger(__name__)

PathLike = str | os.PathLike
ALL = "all"
#: The tracking-metric columns of the summary that become measures.
TRACKING = ("mota", "idf1", "hota", "identity_accuracy", "id_switches", "detection_rate", "area_cv")
MEASURE_COLUMNS = ["video", "source", "animal", "measure", "value"]
GROUP_COLUMNS = [
    "by",
    "level",
    "source",
    "measure",
    "n",
    "mean",
    "sd",
    "median",
    "min",
    "max",
    "values",
]


def _rows(video: str, source: str, animal: str, values: Mapping[str, float]) -> list[dict]:
    return [
        {"video": video, "source": source, "animal": animal, "measure": k, "value": float(v)}
        for k, v in values.items()
        if v is not None and np.isfinite(float(v))
    ]


def tracking_measures(summary: pd.DataFrame, videos: Iterable[str]) -> list[dict]:
    """The summary's per (model, video) tracking metrics, for the trained models."""
    videos = set(videos)
    rows = []
    if "kind" in summary:
        summary = summary[summary["kind"] == "model"]
    for r in summary.to_dict("records"):
        if r["video"] not in videos:
            continue
        vals = {k: r.get(k) for k in TRACKING if r.get(k) is not None}
        rows += _rows(r["video"], r["model"], ALL, {k: v for k, v in vals.items() if v == v})
    return rows


def kinematics(
    tracks: pd.DataFrame, moving_px_s: float = 20.0, scale: float = 1.0
) -> dict[str, dict[str, float]]:
    """Per identity: mean speed (px/s), path length (px) and share of steps above
    ``moving_px_s``, from the centroids of consecutive frames (gaps are not bridged); lengths
    multiplied by ``scale`` (the video's ``downscale``: back to the original pixels)."""
    out = {}
    t = tracks[tracks["source"].isin(["detected", "interpolated"])]
    for ident, g in t.sort_values("frame").groupby("identity", sort=True):
        f = g["frame"].to_numpy()
        consecutive = np.diff(f) == 1
        step = scale * np.hypot(np.diff(g["cx"].to_numpy(float)), np.diff(g["cy"].to_numpy(float)))
        dt = np.diff(g["time_s"].to_numpy(float))
        ok = consecutive & (dt > 0) & np.isfinite(step)
        if not ok.any():
            continue
        speed = step[ok] / dt[ok]
        out[str(ident)] = {
            "speed_px_s": float(speed.mean()),
            "distance_px": float(step[ok].sum()),
            "moving_share": float((speed > moving_px_s).mean()),
        }
    return out


def _with_mean(video: str, source: str, per_animal: Mapping[str, Mapping[str, float]]):
    rows = []
    for animal, vals in per_animal.items():
        rows += _rows(video, source, animal, vals)
    if per_animal:
        keys = sorted({k for v in per_animal.values() for k in v})
        mean = {k: float(np.nanmean([v.get(k, np.nan) for v in per_animal.values()])) for k in keys}
        rows += _rows(video, source, ALL, mean)
    return rows


def qa_measures(qa: pd.DataFrame, checks: Sequence[str], n_frames: int = 0) -> dict[str, float]:
    """Rows flagged per check, the number of distinct frames flagged and (given the frames
    tracked) their share."""
    counts = qa["check"].value_counts() if len(qa) else pd.Series(dtype=int)
    out = {f"qa_{c}": float(counts.get(c, 0)) for c in checks}
    out["qa_flagged_frames"] = float(qa["frame"].nunique()) if len(qa) else 0.0
    if n_frames:
        out["qa_flagged_share"] = out["qa_flagged_frames"] / n_frames
    return out


def budget_measures(budgets: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per animal: ``<behaviour>_share`` and ``<behaviour>_bouts``."""
    out: dict[str, dict[str, float]] = {}
    for r in budgets.to_dict("records"):
        a = out.setdefault(str(r["animal"]), {})
        a[f"{r['behaviour']}_share"] = r.get("share")
        a[f"{r['behaviour']}_bouts"] = r.get("bouts")
    return out


def measures_table(
    *,
    summary: pd.DataFrame | None,
    tracks: Mapping[tuple[str, str], PathLike],
    qa: Mapping[tuple[str, str], PathLike],
    budgets: Mapping[tuple[str, str], PathLike],
    conditions: pd.DataFrame,
    moving_px_s: float = 20.0,
    downscale: Mapping[str, float] | None = None,
    progress=None,
) -> pd.DataFrame:
    """The long per-video measures table (see the module docstring), with the conditions
    joined on ``video``. ``tracks`` and ``qa``: (model, video) -> file; ``budgets``:
    (``classifier/tracker``, video) -> time budget CSV; ``downscale``: video -> the factor
    its working copy was shrunk by (default 1)."""
    from tqdm import tqdm

    from ethoflow.io import tracktable
    from ethoflow.labels.qa.checks import CHECKS, read_qa

    videos = list(conditions["video"])
    rows = tracking_measures(summary, videos) if summary is not None else []
    scale = {str(k): float(v) for k, v in (downscale or {}).items()}
    frames = {}
    for (model, video), path in tqdm(
        tracks.items(), desc="kinematics", file=progress, disable=progress is None, mininterval=5
    ):
        t = tracktable.read(path)
        frames[(model, video)] = int(t["frame"].nunique())
        rows += _with_mean(video, model, kinematics(t, moving_px_s, scale.get(video, 1.0)))
    for (model, video), path in qa.items():
        n = frames.get((model, video), 0)
        rows += _rows(video, model, ALL, qa_measures(read_qa(path), CHECKS, n))
    for (source, video), path in budgets.items():
        try:
            b = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            continue
        rows += _with_mean(video, source, budget_measures(b))
    m = pd.DataFrame(rows, columns=MEASURE_COLUMNS)
    unknown = sorted(set(m["video"]) - set(videos))
    if unknown:
        raise EthoflowError(f"aggregate: measures of videos with no conditions row: {unknown}")
    cond = conditions.copy()
    for c in ("cohort", "group"):
        cond[c] = cond[c].where(cond[c].notna() & (cond[c] != ""), ALL)
    return m.merge(cond, on="video", how="left")


def group_table(measures: pd.DataFrame, by: Sequence[str] = ("cohort", "group")) -> pd.DataFrame:
    """Per ``by`` column and level, per (source, measure): n, mean, sd (n-1), median, min, max
    and the per-video values (JSON ``{video: value}``), from the videos' own rows."""
    m = measures[measures["animal"] == ALL]
    out = []
    for col in by:
        if col not in m:
            continue
        for (level, source, measure), g in m.groupby([col, "source", "measure"], sort=True):
            v = g["value"].to_numpy(float)
            out.append(
                {
                    "by": col,
                    "level": str(level),
                    "source": source,
                    "measure": measure,
                    "n": len(v),
                    "mean": float(v.mean()),
                    "sd": float(v.std(ddof=1)) if len(v) > 1 else float("nan"),
                    "median": float(np.median(v)),
                    "min": float(v.min()),
                    "max": float(v.max()),
                    "values": json.dumps(dict(zip(g["video"], map(float, v))), sort_keys=True),
                }
            )
    return pd.DataFrame(out, columns=GROUP_COLUMNS)


def two_group_tests(
    measures: pd.DataFrame, pairs: Sequence[Sequence[str]], by: str = "group"
) -> pd.DataFrame:
    """Mann-Whitney U (two-sided, scipy) between two levels of ``by``, per (source, measure),
    on the videos' own values; the n of each side beside it."""
    from scipy.stats import mannwhitneyu

    m = measures[measures["animal"] == ALL]
    cols = ["by", "a", "b", "source", "measure", "n_a", "n_b", "median_a", "median_b", "u", "p"]
    out = []
    levels = set(m[by].astype(str)) if by in m else set()
    for a, b in pairs:
        for name in (a, b):
            if name not in levels:
                raise EthoflowError(
                    f"aggregate.compare: {by} {name!r} has no videos (levels: {sorted(levels)})"
                )
        for (source, measure), g in m.groupby(["source", "measure"], sort=True):
            xa = g[g[by].astype(str) == a]["value"].to_numpy(float)
            xb = g[g[by].astype(str) == b]["value"].to_numpy(float)
            if len(xa) == 0 or len(xb) == 0:
                continue
            if np.ptp(np.r_[xa, xb]) == 0:
                u, p = float(len(xa) * len(xb) / 2), 1.0
            else:
                res = mannwhitneyu(xa, xb, alternative="two-sided")
                u, p = float(res.statistic), float(res.pvalue)
            out.append(
                {
                    "by": by,
                    "a": a,
                    "b": b,
                    "source": source,
                    "measure": measure,
                    "n_a": len(xa),
                    "n_b": len(xb),
                    "median_a": float(np.median(xa)),
                    "median_b": float(np.median(xb)),
                    "u": u,
                    "p": p,
                }
            )
    return pd.DataFrame(out, columns=cols)


def write_tables(df: pd.DataFrame, csv_path: PathLike, parquet_path: PathLike | None) -> None:
    """One table as CSV (and Parquet), each written atomically."""
    with atomic_path(csv_path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)
    if parquet_path is not None:
        with atomic_path(parquet_path, suffix=".parquet") as tmp:
            df.to_parquet(tmp, index=False)
