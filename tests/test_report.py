"""Tests for ethoflow.report: overlay video and HTML report on a tiny synthetic run."""

from __future__ import annotations

import html
import json
import os
import re

import numpy as np
import pandas as pd
import pytest

from ethoflow.evaluation.mot import evaluate_tracks
from ethoflow.evaluation.summary import summary_rows, write_summary
from ethoflow.evaluation.truth import identity_status
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T
from ethoflow.io import write_json
from ethoflow.io.video import VideoWriter, iter_frames, probe
from ethoflow.report import (
    ReportInputs,
    build_report,
    fmt,
    loss_figure,
    render_overlay,
)

H = W = 64
N = 20
FPS = 10.0
IDENTITIES = ["mouse1", "mouse2"]
MODELS = ["m1", "m2"]
VIDEOS = ["vidA", "vidB"]  # vidA has ground truth, vidB does not
BG = 200
INFER_SECONDS = {"vidA": 4.0, "vidB": 1.0}  # m1: 2 * 20 frames in 5 s -> 8.0 frames/s


def box(identity: str, f: int) -> tuple[int, int, int, int]:
    """(x, y, w, h) of an animal in frame ``f``: two 12x12 squares moving right."""
    return (4 + f, 6, 12, 12) if identity == "mouse1" else (8 + f, 40, 12, 12)


def mask(identity: str, f: int) -> np.ndarray:
    x, y, w, h = box(identity, f)
    m = np.zeros((H, W), dtype=bool)
    m[y : y + h, x : x + w] = True
    return m


def write_video(path) -> None:
    with VideoWriter(path, FPS, W, H) as w:
        for f in range(N):
            img = np.full((H, W, 3), BG, dtype=np.uint8)
            for i in IDENTITIES:
                img[mask(i, f)] = 60
            w.write(img)


def table(video: str, model: str, source: str, skip=(), interp=(), swap=False) -> pd.DataFrame:
    rows = []
    for f in range(N):
        for i in IDENTITIES:
            if (i, f) in skip:
                continue
            rle = M.encode(mask(i, f))
            name = {"mouse1": "mouse2", "mouse2": "mouse1"}[i] if swap else i
            src = "interpolated" if (i, f) in interp else source
            rows.append(
                dict(
                    video=video,
                    model=model,
                    frame=f,
                    time_s=f / FPS,
                    identity=name,
                    score=np.nan if src != "detected" else 0.9,
                    **T.row_from_mask(rle),
                    mask=rle,
                    source=src,
                )
            )
    return pd.DataFrame(rows, columns=T.COLUMNS)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("run")
    videos = {}
    for v in VIDEOS:
        videos[v] = root / "videos" / f"{v}.mp4"
        write_video(videos[v])
    truth_file = root / "truth" / "vidA_truth.parquet"  # named unlike the video on purpose
    truth = table("vidA", "truth", "truth")
    T.write(truth, truth_file)

    track_files, metric_files, coco_files, logs = [], [], [], []
    for m in MODELS:
        for v in VIDEOS:
            df = table(
                v,
                m,
                "detected",
                skip={("mouse2", f) for f in (10, 11, 12)},
                interp={("mouse1", 5)},
                swap=(m == "m2" and v == "vidA"),
            )
            p = root / "results" / "tracks" / m / f"{v}.parquet"
            # m1 inferred vidA at 5 and vidB (no truth) at 20 frames/s; m2 has no statistics
            stats = {"infer_frames": N, "infer_seconds": INFER_SECONDS[v]} if m == "m1" else None
            T.write(df, p, stats=stats)
            track_files.append(p)
            if v == "vidA":
                res = {"model": m, "video": v, "labelled": True, **evaluate_tracks(df, truth)}
                metric_files.append(root / "results" / "metrics" / m / f"{v}.json")
                write_json(res, metric_files[-1])
        coco = {
            "model": m,
            "val_images": 4,
            "train_seconds": 321.5,
            "parameters": 1234567,
            "iterations": 30,
            "checkpoint_bytes": 4_500_000 if m == "m1" else float("nan"),
        }
        for t in ("bbox", "segm"):
            coco.update(
                {
                    f"{t}_ap": 0.5,
                    f"{t}_ap50": 0.8,
                    f"{t}_ap75": float("nan"),
                    f"{t}_ap_mouse1": 0.4,
                    f"{t}_ap_mouse2": 0.6,
                }
            )
        coco_files.append(root / "results" / "metrics" / m / "coco.json")
        write_json(coco, coco_files[-1])
        it = np.arange(1, 31)
        log_df = pd.DataFrame({"iteration": it, "lr": 1e-3, "loss": 3.0 / it, "seconds": it * 0.1})
        for k, col in enumerate(
            ["loss_classifier", "loss_box_reg", "loss_mask", "loss_objectness", "loss_rpn_box_reg"]
        ):
            log_df[col] = (0.5 + 0.1 * k) / it
        log_df.loc[3, "loss_box_reg"] = np.nan  # an empty cell
        logs.append(root / "results" / "models" / m / "train_log.csv")
        logs[-1].parent.mkdir(parents=True, exist_ok=True)
        log_df.to_csv(logs[-1], index=False)

    summary_csv = root / "results" / "metrics" / "summary.csv"
    tracks = {(p.parent.name, p.stem): p for p in track_files}  # results/tracks/{m}/{v}.parquet
    rows = summary_rows(coco_files, tracks, metric_files, MODELS, VIDEOS, ["vidA"])
    write_summary(rows, summary_csv, root / "results" / "metrics" / "summary.parquet")

    overlay = root / "results" / "report" / "overlays" / "m1" / "vidA.mp4"
    render_overlay(videos["vidA"], T.read(track_files[0]), overlay, IDENTITIES)

    out_html = root / "results" / "report" / "index.html"
    inputs = ReportInputs(
        summary_csv=summary_csv,
        coco_files=coco_files,
        tracks=tracks,
        truth={"vidA": truth_file},
        train_logs=dict(zip(MODELS, logs, strict=True)),
        overlays=[("m1", "vidA", overlay)],
    )
    kw = dict(models=MODELS, videos=VIDEOS, with_truth=["vidA"], labelled=["vidA"])
    build_report(out_html, inputs, identities=IDENTITIES, **kw)
    return dict(
        root=root,
        videos=videos,
        overlay=overlay,
        html=out_html,
        inputs=inputs,
        kw=kw,
        track_files=track_files,
        truth=truth,
    )


def test_overlay_video(run):
    info = probe(run["overlay"])
    assert info["n_frames"] == N
    assert (info["width"], info["height"]) == (W, H)
    src = dict(iter_frames(run["videos"]["vidA"]))
    out = dict(iter_frames(run["overlay"]))
    for f in (0, 5, 15):
        m = mask("mouse1", f)
        m_in = np.zeros_like(m)
        m_in[2:-2, 2:-2] = m[2:-2, 2:-2]  # away from the compressed edges
        diff = np.abs(out[f].astype(int) - src[f].astype(int)).mean(axis=2)
        assert diff[m_in].mean() > 20
    # Far from both animals and the frame label the pixels are (almost) untouched.
    diff = np.abs(out[0].astype(int) - src[0].astype(int))
    assert diff[H - 8 :, W - 8 :].mean() < 8


def test_overlay_max_frames_and_path_input(run, tmp_path):
    out = tmp_path / "short.mp4"
    res = render_overlay(
        run["videos"]["vidA"], run["track_files"][0], out, IDENTITIES, max_frames=8
    )
    assert res["frames"] == 8
    assert probe(out)["n_frames"] == 8
    assert not list(tmp_path.glob(".short.mp4*"))  # no temporary left behind


def test_html_content(run):
    text = run["html"].read_text()
    for name in [*MODELS, *VIDEOS, *IDENTITIES]:
        assert name in text
    for word in (
        "MOTA",
        "IDF1",
        "HOTA",
        "Per-model comparison",
        "Per-video metrics",
        "How to read this",
        "no ground truth",
    ):
        assert word in text
    assert text.count("data:image/png;base64,") >= 2 * 2 + 2 + 2  # traj+timeline, losses
    assert 'href="overlays/m1/vidA.mp4"' in text
    assert '<video controls preload="metadata" src="overlays/m1/vidA.mp4"' in text
    stripped = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", text)
    assert not re.search(r"\bnan\b", stripped, re.IGNORECASE)
    assert "None" not in stripped
    assert "\u2013" in stripped  # m2's checkpoint size is NaN (null in coco.json)
    assert "4.5" in stripped  # checkpoint MB
    assert "1,234,567" in stripped


def html_table(text: str, section: str) -> tuple[list[str], dict[str, list[str]]]:
    """Header and rows (by first cell) of the first table after ``<h2 id="{section}">``."""
    part = text.split(f'<h2 id="{section}">', 1)[1].split("</table>", 1)[0]
    header = [html.unescape(h) for h in re.findall(r"<th>(.*?)</th>", part)]
    rows = {}
    for tr in re.findall(r"<tr>(<td.*?)</tr>", part):
        cells = [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
        rows[cells[0]] = cells
    return header, rows


def test_model_table_shows_inference_speed(run):
    header, rows = html_table(run["html"].read_text(), "models")
    col = header.index("inference frames/s")
    assert header[col - 1] == "identity accuracy"
    assert rows["m1"][col] == "8.0"  # all of m1's videos, not only the one with truth
    assert rows["m2"][col] == "\u2013"  # unknown
    summary = pd.read_csv(run["root"] / "results" / "metrics" / "summary.csv")
    m1 = summary[summary["model"] == "m1"].set_index("video")
    assert m1["infer_fps"].to_dict() == {"vidA": 5.0, "vidB": 20.0}
    assert summary.loc[summary["model"] == "m2", "infer_fps"].isna().all()


def test_loss_figure_plots_any_model_family_losses():
    it = np.arange(1, 11)
    log_df = pd.DataFrame({"iteration": it, "lr": 1e-3, "loss_conf": 1.0 / it, "seconds": 0.1})
    assert loss_figure(log_df, "yolact") is not None  # no total, no Mask R-CNN term
    assert loss_figure(log_df.drop(columns="loss_conf"), "nothing") is None


def test_html_is_self_contained(run):
    text = run["html"].read_text()
    srcs = re.findall(r'src="([^"]+)"', text)
    assert srcs
    for s in srcs:
        assert s.startswith("data:image/png;base64,") or s.endswith(".mp4")
    assert "http://" not in text and "https://" not in text


def test_identity_status_marks_wrong_frames(run):
    truth = run["truth"]
    pred = table("vidA", "m1", "detected", skip={("mouse2", 10)}, swap=False)
    pred.loc[(pred["identity"] == "mouse1") & (pred["frame"] == 3), "mask"] = [
        M.encode(mask("mouse2", 3))
    ]
    st1 = identity_status(pred, truth, "mouse1", N)
    st2 = identity_status(pred, truth, "mouse2", N)
    assert np.flatnonzero(st1["wrong"]).tolist() == [3]
    assert np.flatnonzero(st2["wrong"]).tolist() == [10]
    assert st2["missing"][10] and not st2["missing"][9]
    assert st1["ok"].sum() == N - 1


def test_identity_status_matches_at_the_given_iou_threshold(run):
    """A mask shifted by 2 pixels overlaps its truth at IoU 120 / 168 = 0.71."""
    pred = table("vidA", "m1", "detected")
    shifted = np.roll(mask("mouse1", 4), 2, axis=1)
    pred.loc[(pred["identity"] == "mouse1") & (pred["frame"] == 4), "mask"] = [M.encode(shifted)]
    loose = identity_status(pred, run["truth"], "mouse1", N, iou_threshold=0.7)
    strict = identity_status(pred, run["truth"], "mouse1", N, iou_threshold=0.75)
    assert not loose["wrong"].any() and loose["ok"].all()
    assert np.flatnonzero(strict["wrong"]).tolist() == [4]


def test_report_takes_keys_from_its_inputs_not_from_paths(run, tmp_path):
    """Files named after nothing, keyed by the mappings; the configured IoU threshold printed."""
    import shutil

    from ethoflow.io.images import write_png

    def copy(src, name):
        dest = tmp_path / name
        shutil.copy(src, dest)
        return dest

    inputs = run["inputs"]
    tracks = {key: copy(p, f"t{k}.parquet") for k, (key, p) in enumerate(inputs.tracks.items())}
    boot = tmp_path / "boot"
    write_png(np.zeros((8, 8, 3), np.uint8), boot / "overlays" / "f1.png")
    pd.DataFrame(
        {"name": ["f1", "f1"], "flags": ["", "thin"], "keypoints_inside": [1.0, 0.5]}
    ).to_csv(boot / "bootstrap.csv", index=False)
    qa = tmp_path / "q.parquet"
    pd.DataFrame({"frame": [1, 1, 2], "check": ["overlap", "jump", "area"]}).to_parquet(qa)
    keyed = ReportInputs(
        summary_csv=inputs.summary_csv,
        coco_files=inputs.coco_files,
        tracks=tracks,
        truth={"vidA": copy(inputs.truth["vidA"], "gt.parquet")},
        train_logs={
            m: copy(p, f"log{k}.csv") for k, (m, p) in enumerate(inputs.train_logs.items())
        },
        overlays=[("m2", "vidB", copy(run["overlay"], "clip.mp4"))],
        bootstrap={"vidK": boot},
        qa={"m1/vidA": qa},
    )
    out = tmp_path / "html" / "index.html"
    build_report(out, keyed, identities=IDENTITIES, iou_threshold=0.75, **run["kw"])
    text = out.read_text()
    for m in MODELS:
        for v in VIDEOS:
            assert f"<h3>{m} \u2014 {v}</h3>" in text  # one per track table
    assert text.count("data:image/png;base64,") == 2 * 4 + 2 + 1  # + bootstrap picture
    assert '<video controls preload="metadata" src="../clip.mp4"' in text
    assert "<h3>m2 \u2014 vidB</h3>\n<p>" in text
    assert "<h3>vidK</h3>" in text and "2 masks" in text and "1 masks flagged" in text
    _, rows = html_table(text, "qa")
    assert rows["m1/vidA"][1:] == ["2", "1", "1", "0", "0", "1"]
    assert "IoU &lt; 0.75" in text and "IoU \u2265 0.75" in text
    assert "0.5)" not in text
    assert "No training log" not in text and "No ground truth for this video" in text


def test_fmt():
    assert fmt(float("nan")) == "\u2013"
    assert fmt(None) == "\u2013"
    assert fmt("") == "\u2013"
    assert fmt(0.12345) == "0.123"
    assert fmt(3.0, integer=True) == "3"


def test_figures_of_tables_without_masks_take_the_size_from_one_with_masks(tmp_path):
    """Other tools' output and keypoint truth are centroids without masks: the figures still
    draw them, in the frame size of a table that has masks, or without one at all."""
    from ethoflow.report import timeline_figure, trajectory_figure

    m = np.zeros((40, 60), bool)
    m[5:15, 5:15] = True
    rle = M.encode(m)
    base = dict(video="v", time_s=0.0, score=1.0, x1=5.0, y1=5.0, x2=15.0, y2=15.0, area=0)
    points = pd.DataFrame(
        [dict(base, model="sleap", frame=f, identity="a", cx=10.0 + f, cy=10.0, mask=None,
              source="detected") for f in range(5)]
    )  # fmt: skip
    masked = pd.DataFrame(
        [dict(base, model="truth", frame=f, identity="a", cx=10.0, cy=10.0, mask=rle,
              source="truth", area=100) for f in range(5)]
    )  # fmt: skip
    for truth in (masked, None):
        for fig in (
            trajectory_figure(points, truth, ["a"], "t"),
            timeline_figure(points, truth, ["a"], "t", gate=5.0),
        ):
            assert fig.startswith("data:image/png;base64,")


def test_video_pages_hold_the_figures_and_the_index_links_them(run, tmp_path):
    from ethoflow.report import build_video_page

    root = run["root"]
    out = tmp_path / "report"
    pages = {v: out / "videos" / f"{v}.html" for v in VIDEOS}
    index = out / "index.html"
    build_report(index, run["inputs"], identities=IDENTITIES, video_pages=pages, **run["kw"])
    text = index.read_text()
    for v in VIDEOS:
        assert f'<a href="videos/{v}.html">{v}</a>' in text
    # the index draws no trajectory or timeline (only the two training loss figures)
    assert text.count("data:image/png;base64,") == len(MODELS)
    assert "Per-video pages" in text and "Trajectories and identity timelines" not in text
    tracks = {m: root / "results" / "tracks" / m / "vidA.parquet" for m in MODELS}
    metrics = {m: root / "results" / "metrics" / m / "vidA.json" for m in MODELS}
    build_video_page(
        pages["vidA"],
        video="vidA",
        tracks=tracks,
        truth=run["inputs"].truth["vidA"],
        metrics=metrics,
        overlays=[("m1", run["overlay"])],
        identities=IDENTITIES,
        index_html=index,
    )
    page = pages["vidA"].read_text()
    assert page.count("data:image/png;base64,") == 2 * len(MODELS)  # trajectories, timeline
    assert '<a href="../index.html">' in page
    _, rows = html_table(page, "metrics")
    expected = json.loads(metrics["m2"].read_text())
    assert float(rows["m2"][1]) == pytest.approx(expected["mota"], abs=5e-4)
    assert f'src="{os.path.relpath(run["overlay"], pages["vidA"].parent)}"' in page
    # a video without truth: the tracks are drawn, the metrics say there is no truth
    build_video_page(
        pages["vidB"],
        video="vidB",
        tracks={"m1": root / "results" / "tracks" / "m1" / "vidB.parquet"},
        identities=IDENTITIES,
    )
    page_b = pages["vidB"].read_text()
    assert "No ground truth for this video." in page_b
    assert page_b.count("data:image/png;base64,") == 2
