"""Report scale: the run report of a facility-sized run, built as the workflow builds it.

Makes N synthetic videos (one model, 3 identities, ``--frames`` frames each at 256 px: a track
table per video with masks and its truth, per-video metrics, a QA table), the summary and the
aggregate tables of all of them, then times, in one run, for each N in ``--videos``:

- the index (``build_report`` with ``video_pages``: tables, groups, links; no per-video figure);
- every per-video page (``build_video_page``, one job each in the workflow);

and, for the smallest N, the index as it was built before per-video pages (every video's
figures inline);

and prints the index size, the total and the per-video build time, and the per-video ratio of
the largest N to the smallest (the bar: within 1.5x, index < 2 MB at 500 videos).

    .venv/bin/python bench/report_scale.py [--videos 50,500] [--frames 300] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from ethoflow import aggregate as A
from ethoflow.evaluation.summary import write_summary
from ethoflow.io import masks, tracktable, write_json
from ethoflow.labels.qa.checks import empty as empty_qa
from ethoflow.labels.qa.checks import write as write_qa
from ethoflow.report import ReportInputs, build_report, build_video_page

IDS = ("mouse1", "mouse2", "mouse3")
SIZE = 256


def synthetic_tracks(video: str, n_frames: int, seed: int) -> pd.DataFrame:
    """Three animals wandering (smooth random walks), a square mask each, every 25th frame
    interpolated."""
    rng = np.random.default_rng(seed)
    rows = []
    for k, ident in enumerate(IDS):
        steps = rng.normal(0, 1.5, size=(n_frames, 2)).cumsum(axis=0)
        xy = np.clip(np.array([60.0 + 60 * k, 128.0]) + steps, 20, SIZE - 20)
        for f, (x, y) in enumerate(xy):
            m = np.zeros((SIZE, SIZE), bool)
            m[int(y) - 8 : int(y) + 8, int(x) - 12 : int(x) + 12] = True
            rle = masks.encode(m)
            rows.append(
                {
                    "video": video,
                    "model": "maskrcnn",
                    "frame": f,
                    "time_s": f / 30.0,
                    "identity": ident,
                    "score": 0.9,
                    **tracktable.row_from_mask(rle),
                    "mask": rle,
                    "source": "interpolated" if f % 25 == 24 else "detected",
                }
            )
    return pd.DataFrame(rows)


def make_videos(work: Path, n: int, n_frames: int) -> dict:
    """The files of N videos (each video's own, then the run-wide tables)."""
    files = {"videos": [], "tracks": {}, "truth": {}, "metrics": {}, "qa": {}}
    template = synthetic_tracks("v", n_frames, 0)
    truth = template.assign(source="truth")
    summary = []
    for i in range(n):
        v = f"cage{i:04d}"
        files["videos"].append(v)
        t = work / "tracks" / f"{v}.parquet"
        if not t.exists():  # the same tables for every video: building, not making, is timed
            t.parent.mkdir(parents=True, exist_ok=True)
            tracktable.write(template.assign(video=v), t)
            tracktable.write(truth.assign(video=v, model="truth"), work / "tracks" / f"{v}.t.pq")
            write_json(
                {"model": "maskrcnn", "video": v, "mota": 0.9 + 0.001 * (i % 50), "idf1": 0.95},
                work / "tracks" / f"{v}.json",
            )
            write_qa(empty_qa(), work / "tracks" / f"{v}.qa.parquet")
        files["tracks"][v] = t
        files["truth"][v] = work / "tracks" / f"{v}.t.pq"
        files["metrics"][v] = work / "tracks" / f"{v}.json"
        files["qa"][v] = work / "tracks" / f"{v}.qa.parquet"
        summary.append(
            {"model": "maskrcnn", "video": v, "kind": "model", "labelled": i % 10 == 0,
             "has_truth": True, "mota": 0.9 + 0.001 * (i % 50), "idf1": 0.95, "hota": 0.8,
             "detection_rate": 0.97, "track_rows": 3 * n_frames}
        )  # fmt: skip
    write_summary(summary, work / f"summary{n}.csv", work / f"summary{n}.parquet")
    files["summary"] = work / f"summary{n}.csv"
    cond = pd.DataFrame(
        {"video": files["videos"], "cohort": [f"cage{i % 5}" for i in range(n)],
         "group": ["wt" if i % 2 else "ko" for i in range(n)]}
    )  # fmt: skip
    measures = A.measures_table(
        summary=pd.read_parquet(work / f"summary{n}.parquet"),
        tracks={("maskrcnn", v): files["tracks"][v] for v in files["videos"]},
        qa={("maskrcnn", v): files["qa"][v] for v in files["videos"]},
        budgets={},
        conditions=cond,
    )
    files["aggregate"] = work / f"aggregate{n}.parquet"
    measures.to_parquet(files["aggregate"])
    A.write_tables(A.group_table(measures), work / f"groups{n}.csv", work / f"groups{n}.parquet")
    files["groups"] = work / f"groups{n}.parquet"
    return files


def _page(args) -> float:
    out, v, files = args
    t0 = time.perf_counter()
    build_video_page(
        out,
        video=v,
        tracks={"maskrcnn": files["tracks"][v]},
        truth=files["truth"][v],
        metrics={"maskrcnn": files["metrics"][v]},
        qa={"maskrcnn": files["qa"][v]},
        identities=IDS,
    )
    return time.perf_counter() - t0


def index(path: Path, files: dict, pages: dict | None) -> None:
    """The run's index: linking the per-video pages, or (``pages`` None) with every video's
    figures inline, as before per-video pages."""
    videos = files["videos"]
    inline = pages is None
    build_report(
        path,
        ReportInputs(
            summary_csv=files["summary"],
            tracks={("maskrcnn", v): files["tracks"][v] for v in videos} if inline else {},
            truth=files["truth"] if inline else {},
            qa={} if inline else {f"maskrcnn/{v}": files["qa"][v] for v in videos},
            aggregate=files["aggregate"],
            groups=files["groups"],
        ),
        models=["maskrcnn"],
        videos=videos,
        identities=IDS,
        with_truth=videos,
        video_pages=pages,
    )


def build(work: Path, files: dict, workers: int) -> dict:
    n = len(files["videos"])
    out = work / f"report{n}"
    pages = {v: out / "videos" / f"{v}.html" for v in files["videos"]}
    t0 = time.perf_counter()
    index(out / "index.html", files, pages=pages)
    index_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        page_s = list(pool.map(_page, [(pages[v], v, files) for v in files["videos"]]))
    wall = time.perf_counter() - t0
    return {
        "videos": n,
        "index_s": index_s,
        "index_bytes": (out / "index.html").stat().st_size,
        "pages_wall_s": wall,
        "page_s_mean": float(np.mean(page_s)),
        "page_bytes_mean": float(np.mean([p.stat().st_size for p in pages.values()])),
        "per_video_s": (index_s + sum(page_s)) / n,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--videos", default="50,500")
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    sizes = [int(x) for x in a.videos.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="report-scale-") as tmp:
        work = Path(tmp)
        for n in sizes:
            files = make_videos(work, n, a.frames)
            r = build(work, files, a.workers)
            results.append(r)
            print(
                f"{n:5d} videos: index {r['index_s']:.2f} s, {r['index_bytes'] / 1e6:.3f} MB; "
                f"pages {r['pages_wall_s']:.1f} s wall ({a.workers} workers), "
                f"{r['page_s_mean']:.3f} s and {r['page_bytes_mean'] / 1e3:.0f} kB each; "
                f"build time per video {r['per_video_s']:.3f} s",
                flush=True,
            )
        # the layout before per-video pages, for the smallest N: every figure in the index
        files = make_videos(work, sizes[0], a.frames)
        t0 = time.perf_counter()
        inline = work / "inline" / "index.html"
        index(inline, files, pages=None)
        print(
            f"before (every figure in the index), {sizes[0]} videos: index "
            f"{time.perf_counter() - t0:.1f} s, {inline.stat().st_size / 1e6:.2f} MB"
        )
    lo, hi = results[0], results[-1]
    ratio = hi["per_video_s"] / lo["per_video_s"]
    print(
        f"per-video build time ratio {hi['videos']} / {lo['videos']} videos: {ratio:.2f} "
        f"(bar: <= 1.5); index at {hi['videos']} videos: {hi['index_bytes'] / 1e6:.2f} MB "
        "(bar: < 2 MB)"
    )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
