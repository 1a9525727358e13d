"""Tests for ethoflow.evaluation (mot, coco, video, summary) on small synthetic track tables, with
exact, hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ethoflow.evaluation import coco, mot, summary, video
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T

H = W = 64
N = 10  # frames per synthetic video
ALPHAS = 19  # HOTA alphas 0.05, 0.10, ..., 0.95

# Two well separated 10x10 animals.
BOX = {"mouse1": (5, 5, 10, 10), "mouse2": (40, 40, 10, 10)}


def rect(x: int, y: int, w: int, h: int) -> dict:
    m = np.zeros((H, W), dtype=bool)
    m[y : y + h, x : x + w] = True
    return M.encode(m)


def table(rows: list[tuple[int, str, dict]], source: str = "detected") -> pd.DataFrame:
    """Track table from ``(frame, identity, rle)`` tuples."""
    out = []
    for frame, identity, rle in rows:
        out.append(
            dict(
                video="v",
                model="truth" if source == "truth" else "m",
                frame=frame,
                time_s=frame / 25.0,
                identity=identity,
                score=1.0,
                **T.row_from_mask(rle),
                mask=rle,
                source=source,
            )
        )
    if not out:
        return T.empty()
    return pd.DataFrame(out, columns=T.COLUMNS)


def truth_table(n: int = N) -> pd.DataFrame:
    return table([(f, i, rect(*BOX[i])) for f in range(n) for i in BOX], source="truth")


def swapped(n: int = N, start: int = N // 2) -> pd.DataFrame:
    """Perfect masks, identities swapped from frame ``start`` on."""
    swap = {"mouse1": "mouse2", "mouse2": "mouse1"}
    return table([(f, swap[i] if f >= start else i, rect(*BOX[i])) for f in range(n) for i in BOX])


# ----------------------------------------------------------------------------------------------
# evaluate_tracks / mot_metrics / identity_accuracy
# ----------------------------------------------------------------------------------------------


def test_perfect_prediction():
    truth = truth_table()
    pred = table([(f, i, rect(*BOX[i])) for f in range(N) for i in BOX])
    r = mot.evaluate_tracks(pred, truth)
    for key in ("mota", "idf1", "idp", "idr", "precision", "recall", "hota", "deta", "assa"):
        assert r[key] == pytest.approx(1.0), key
    assert r["loca"] == pytest.approx(1.0)
    assert r["motp"] == pytest.approx(0.0)
    assert r["identity_accuracy"] == 1.0
    assert (r["matched"], r["truth_count"]) == (2 * N, 2 * N)
    assert (r["id_switches"], r["misses"], r["false_positives"]) == (0, 0, 0)
    assert (r["num_objects"], r["num_predictions"], r["num_frames"]) == (2 * N, 2 * N, N)
    # plain Python types, so the dict serialises to JSON/CSV without surprises
    assert all(type(v) in (int, float) for v in r.values())


def test_swapped_identities():
    r = mot.evaluate_tracks(swapped(), truth_table())
    assert r["id_switches"] == 2  # each of the two tracks switches once
    assert r["misses"] == r["false_positives"] == 0
    assert r["mota"] == pytest.approx(1 - 2 / (2 * N))
    # Best global id assignment keeps half of each track: IDTP = N of 2N truth / 2N predictions.
    assert r["idf1"] == pytest.approx(0.5)
    # HOTA: every pair of ids matches in N/2 frames -> association IoU (N/2) / (N + N - N/2) = 1/3.
    assert r["deta"] == pytest.approx(1.0)
    assert r["assa"] == pytest.approx(1 / 3)
    assert r["hota"] == pytest.approx(math.sqrt(1 / 3))
    assert r["identity_accuracy"] == 0.5
    assert r["matched"] == 2 * N


def test_swap_late_idf1():
    # Swap for the last 4 of 10 frames: the best assignment keeps 6 frames of each track.
    r = mot.mot_metrics(swapped(start=6), truth_table())
    assert r["id_switches"] == 2
    assert r["idf1"] == pytest.approx(2 * 6 / (2 * N))


def test_missing_detections():
    k = 3
    rows = [(f, "mouse1", rect(*BOX["mouse1"])) for f in range(N)]
    rows += [(f, "mouse2", rect(*BOX["mouse2"])) for f in range(k, N)]
    r = mot.evaluate_tracks(table(rows), truth_table())
    assert r["misses"] == k
    assert r["false_positives"] == 0
    assert r["mota"] == pytest.approx(1 - k / (2 * N))
    assert r["recall"] == pytest.approx(1 - k / (2 * N))
    assert r["deta"] == pytest.approx((2 * N - k) / (2 * N))
    # mouse1 pair: N / (N + N - N) = 1; mouse2 pair: (N-k) / (N + (N-k) - (N-k)) = (N-k)/N.
    assa = (N * 1 + (N - k) * (N - k) / N) / (2 * N - k)
    assert r["assa"] == pytest.approx(assa)
    assert r["identity_accuracy"] == 1.0
    assert (r["matched"], r["truth_count"]) == (2 * N - k, 2 * N)


def test_frame_without_predictions_counts_as_misses():
    truth = truth_table()
    pred = table([(f, i, rect(*BOX[i])) for f in range(N - 1) for i in BOX])  # last frame empty
    r = mot.mot_metrics(pred, truth)
    assert r["misses"] == 2
    assert r["num_frames"] == N


def test_false_positive_on_frame_without_truth():
    truth = truth_table(5)
    rows = [(f, i, rect(*BOX[i])) for f in range(5) for i in BOX]
    rows.append((7, "mouse1", rect(*BOX["mouse1"])))  # no truth on frame 7
    r = mot.evaluate_tracks(table(rows), truth)
    assert r["false_positives"] == 1
    assert r["misses"] == 0
    assert r["num_frames"] == 6
    assert r["mota"] == pytest.approx(1 - 1 / 10)
    assert r["deta"] == pytest.approx(10 / 11)
    # restricted to the annotated frames the stray prediction does not count
    r = mot.evaluate_tracks(table(rows), truth, frames=range(5))
    assert r["false_positives"] == 0
    assert r["mota"] == pytest.approx(1.0)


def test_iou_below_threshold_is_not_matched():
    truth = table([(f, "mouse1", rect(5, 5, 10, 10)) for f in range(N)], source="truth")
    pred = table([(f, "mouse1", rect(5, 5, 10, 4)) for f in range(N)])  # IoU 40/100 = 0.4
    r = mot.evaluate_tracks(pred, truth)
    assert (r["misses"], r["false_positives"]) == (N, N)
    assert r["mota"] == pytest.approx(-1.0)
    assert r["matched"] == 0
    assert math.isnan(r["identity_accuracy"])
    r = mot.mot_metrics(pred, truth, iou_threshold=0.3)
    assert (r["misses"], r["false_positives"]) == (0, 0)
    assert r["motp"] == pytest.approx(0.6)  # motmetrics' MOTP is a distance, 1 - IoU


def test_empty_predictions():
    truth = truth_table()
    r = mot.evaluate_tracks(table([]), truth)
    assert r["misses"] == 2 * N
    assert r["mota"] == 0.0
    assert (r["hota"], r["deta"], r["assa"]) == (0.0, 0.0, 0.0)
    assert math.isnan(r["identity_accuracy"])


def test_input_checks():
    truth = truth_table()
    two_videos = pd.concat([truth, truth.assign(video="w")])
    with pytest.raises(ValueError, match="one video at a time"):
        mot.mot_metrics(two_videos, truth)
    with pytest.raises(ValueError, match="more than one row"):
        mot.hota(pd.concat([truth, truth]), truth)


# ----------------------------------------------------------------------------------------------
# HOTA by hand
# ----------------------------------------------------------------------------------------------


def test_hota_single_object_perfect():
    truth = table([(f, "a", rect(5, 5, 10, 10)) for f in range(4)], source="truth")
    pred = table([(f, "x", rect(5, 5, 10, 10)) for f in range(4)])
    r = mot.hota(pred, truth)
    assert r == pytest.approx({"hota": 1.0, "deta": 1.0, "assa": 1.0, "loca": 1.0}, abs=1e-12)


def test_hota_partial_localisation():
    # IoU 72/100 = 0.72: matched for the 14 alphas 0.05..0.70, unmatched for 0.75..0.95.
    truth = table([(f, "a", rect(5, 5, 10, 10)) for f in range(4)], source="truth")
    pred = table([(f, "x", rect(5, 5, 9, 8)) for f in range(4)])
    r = mot.hota(pred, truth)
    k = 14
    assert r["hota"] == pytest.approx(k / ALPHAS, abs=1e-6)
    assert r["deta"] == pytest.approx(k / ALPHAS, abs=1e-6)
    assert r["assa"] == pytest.approx(k / ALPHAS, abs=1e-6)
    # LocA of an alpha without true positives counts as 1 (TrackEval convention)
    assert r["loca"] == pytest.approx((k * 0.72 + (ALPHAS - k)) / ALPHAS, abs=1e-6)


def test_hota_prefers_the_consistent_track():
    """The global alignment term makes the consistent track win over a better-overlapping intruder.

    Truth "a" on frames 0-3; prediction "z" follows it (IoU 1, 1, 1, 0.72); on frame 3 an
    intruder "b" overlaps "a" perfectly. IoU-only matching would take "b" on frame 3; HOTA's
    alignment x IoU score takes "z".
    """
    truth = table([(f, "a", rect(5, 5, 10, 10)) for f in range(4)], source="truth")
    rows = [(f, "z", rect(5, 5, 10, 10)) for f in range(3)]
    rows += [(3, "z", rect(5, 5, 9, 8)), (3, "b", rect(5, 5, 10, 10))]
    r = mot.hota(table(rows), truth)
    k = 14  # alphas <= 0.72
    # alpha <= 0.72: TP 4 (z), FP 1 (b)                -> DetA 4/5, AssA 4/(4+4-4) = 1
    # alpha  > 0.72: TP 3, FN 1, FP 2 (z on frame 3, b) -> DetA 3/6, AssA 3/(4+4-3) = 3/5
    lo_deta, lo_assa, hi_deta, hi_assa = 4 / 5, 1.0, 3 / 6, 3 / 5
    hota = (k * math.sqrt(lo_deta * lo_assa) + (ALPHAS - k) * math.sqrt(hi_deta * hi_assa)) / ALPHAS
    assert r["hota"] == pytest.approx(hota, abs=1e-6)
    assert r["deta"] == pytest.approx((k * lo_deta + (ALPHAS - k) * hi_deta) / ALPHAS, abs=1e-6)
    assert r["assa"] == pytest.approx((k * lo_assa + (ALPHAS - k) * hi_assa) / ALPHAS, abs=1e-6)
    assert r["loca"] == pytest.approx((k * (3 + 0.72) / 4 + (ALPHAS - k)) / ALPHAS, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# COCO AP
# ----------------------------------------------------------------------------------------------


def coco_gt() -> dict:
    anns = []
    for n, box in enumerate(BOX.values()):
        rle = rect(*box)
        x, y, w, h = box
        anns.append(
            dict(
                id=n + 1,
                image_id=1,
                category_id=n + 1,
                bbox=[x, y, w, h],
                area=w * h,
                iscrowd=0,
                segmentation=rle,
            )
        )
    return {
        "images": [{"id": 1, "width": W, "height": H, "file_name": "f0.png"}],
        "annotations": anns,
        "categories": [{"id": n + 1, "name": name} for n, name in enumerate(BOX)],
    }


def perfect_detections(gt: dict) -> list[dict]:
    return [
        dict(
            image_id=a["image_id"],
            category_id=a["category_id"],
            score=0.9,
            bbox=list(a["bbox"]),
            segmentation=a["segmentation"],
        )
        for a in gt["annotations"]
    ]


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_eval_perfect(iou_type):
    gt = coco_gt()
    dets = perfect_detections(gt)
    r = coco.coco_eval(gt, dets, iou_type)
    assert r == pytest.approx(
        {"ap": 1.0, "ap50": 1.0, "ap75": 1.0, "ap_mouse1": 1.0, "ap_mouse2": 1.0}
    )
    assert "id" not in dets[0]  # the caller's detections are left alone


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_coco_eval_no_detections(iou_type):
    r = coco.coco_eval(coco_gt(), [], iou_type)
    assert r == {"ap": 0.0, "ap50": 0.0, "ap75": 0.0, "ap_mouse1": 0.0, "ap_mouse2": 0.0}


def test_coco_eval_wrong_category_and_unknown_image():
    gt = coco_gt()
    dets = perfect_detections(gt)[:1]  # mouse1 only
    r = coco.coco_eval(gt, dets, "segm")
    assert r["ap_mouse1"] == pytest.approx(1.0)
    assert r["ap_mouse2"] == 0.0
    assert r["ap"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="not in the ground truth"):
        coco.coco_eval(gt, [dict(dets[0], image_id=99)], "bbox")


# ----------------------------------------------------------------------------------------------
# Summary table
# ----------------------------------------------------------------------------------------------


def test_write_summary(tmp_path):
    rows = [
        {"mota": 0.9, "video": "v1", "model": "m1", "hota": 0.8},
        {"mota": float("nan"), "video": "v2", "model": "m1", "hota": 0.7},
    ]
    df = summary.write_summary(rows, tmp_path / "s.csv", tmp_path / "out" / "s.parquet")
    assert list(df.columns) == ["model", "video", "mota", "hota"]
    back = pd.read_parquet(tmp_path / "out" / "s.parquet")
    pd.testing.assert_frame_equal(back, df)
    csv = pd.read_csv(tmp_path / "s.csv")
    assert list(csv.columns) == ["model", "video", "mota", "hota"]
    assert math.isnan(csv["mota"][1])
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "s.csv", "s.parquet"]


def test_summary_metric_columns_are_float_whichever_rows_are_there(tmp_path):
    """A metric that is None in every row (no match at all: identity accuracy) is still a float
    column, so summaries of different runs compare column by column."""
    rows = [
        {"model": "m", "video": "v1", "identity_accuracy": None, "id_switches": 2, "match": None},
        {
            "model": "m",
            "video": "v2",
            "identity_accuracy": None,
            "id_switches": None,
            "match": None,
        },
    ]
    summary.write_summary(rows, tmp_path / "s.csv", tmp_path / "s.parquet")
    back = pd.read_parquet(tmp_path / "s.parquet")
    assert back["identity_accuracy"].dtype == "float64" and back["identity_accuracy"].isna().all()
    assert back["id_switches"].dtype == "float64" and back["id_switches"][0] == 2
    assert back["model"].tolist() == ["m", "m"]


def test_summary_rows_carry_inference_speed_from_the_track_tables(tmp_path):
    tracks = tmp_path / "tracks" / "m"
    T.write(
        truth_table().assign(source="detected", model="m"),
        tracks / "v.parquet",
        stats={
            "infer_frames": 30,
            "infer_seconds": 2.0,
        },
    )
    T.write(truth_table().assign(source="detected", model="m", video="w"), tracks / "w.parquet")
    # an empty track table (nothing detected) is found by its (tracker, video) key
    T.write(T.empty(), tracks / "x.parquet", stats={"infer_frames": 5, "infer_seconds": 0.5})
    files = {("m", v): tracks / f"{v}.parquet" for v in ("v", "w", "x")}
    rows = summary.summary_rows([], files, [], ["m"], ["v", "w", "x"], [])
    by_video = {r["video"]: r for r in rows}
    v, w, x = by_video["v"], by_video["w"], by_video["x"]
    assert (v["infer_frames"], v["infer_seconds"], v["infer_fps"]) == (30, 2.0, 15.0)
    assert (w["infer_frames"], w["infer_seconds"], w["infer_fps"]) == (None, None, None)
    assert x["infer_fps"] == 10.0 and x["track_rows"] == 0
    df = summary.write_summary(rows, tmp_path / "s.csv", tmp_path / "s.parquet")
    assert pd.read_csv(tmp_path / "s.csv")["infer_fps"].tolist()[::2] == [15.0, 10.0]
    assert df["infer_fps"].isna().tolist() == [False, True, False]


# ----------------------------------------------------------------------------------------------
# centroid matching (keypoint truth), parts of a video, truth-free track description
# ----------------------------------------------------------------------------------------------


def points(rows: list[tuple[int, str, float, float]], source: str = "truth") -> pd.DataFrame:
    """Mask-free track table from ``(frame, identity, cx, cy)``: what keypoint truth looks like."""
    out = [
        dict(
            video="v",
            model="truth" if source == "truth" else "m",
            frame=f,
            time_s=np.nan,
            identity=i,
            score=1.0,
            x1=x - 5,
            y1=y - 5,
            x2=x + 5,
            y2=y + 5,
            cx=x,
            cy=y,
            area=0,
            mask=None,
            source=source,
        )
        for f, i, x, y in rows
    ]
    return pd.DataFrame(out, columns=T.COLUMNS)


def test_centroid_gate_decides_matches():
    truth = points([(f, "a", 100.0, 100.0) for f in range(4)])
    # 30 px off inside a 50 px gate on frames 0-1; 60 px off (outside) on frames 2-3
    pred = points([(f, "a", 130.0 if f < 2 else 160.0, 100.0) for f in range(4)], "detected")
    r = mot.evaluate_tracks(pred, truth, match="centroid", gate=50.0)
    assert (r["misses"], r["false_positives"], r["num_objects"]) == (2, 2, 4)
    assert r["mota"] == pytest.approx(0.0)
    assert r["motp"] == pytest.approx(30 / 50)  # mean d / gate of the matches
    # a wider gate takes them all
    r = mot.evaluate_tracks(pred, truth, match="centroid", gate=70.0)
    assert r["mota"] == pytest.approx(1.0) and r["identity_accuracy"] == 1.0


def test_centroid_matching_counts_identity_swaps():
    truth = points([(f, i, x, 50.0) for f in range(10) for i, x in (("a", 20.0), ("b", 200.0))])
    swap = {"a": "b", "b": "a"}
    pred = points(
        [
            (f, swap[i] if f >= 5 else i, x + 3, 50.0)
            for f in range(10)
            for i, x in (("a", 20.0), ("b", 200.0))
        ],
        "detected",
    )
    r = mot.evaluate_tracks(pred, truth, match="centroid", gate=50.0)
    assert r["id_switches"] == 2
    assert r["identity_accuracy"] == pytest.approx(0.5)
    assert r["mota"] == pytest.approx(1 - 2 / 20)


def test_centroid_mode_needs_no_masks_but_mask_mode_does():
    truth = points([(0, "a", 10.0, 10.0)])
    with pytest.raises(ValueError, match="mask"):
        mot.evaluate_tracks(truth.assign(source="detected").drop(columns="mask"), truth)
    with pytest.raises(ValueError, match="gate"):
        mot.evaluate_tracks(truth, truth, match="centroid", gate=0)
    with pytest.raises(ValueError, match="match mode"):
        mot.evaluate_tracks(truth, truth, match="nearest")


def test_evaluate_video_splits_labelled_unlabelled_and_touching():
    # two animals that touch on frames 6-9 (masks adjacent), the prediction loses mouse2 there
    boxes = {
        f: {"mouse1": (5, 5, 10, 10), "mouse2": (40 if f < 6 else 15, 5, 10, 10)} for f in range(N)
    }
    truth = table([(f, i, rect(*boxes[f][i])) for f in range(N) for i in boxes[f]], "truth")
    pred = table(
        [(f, i, rect(*boxes[f][i])) for f in range(N) for i in boxes[f] if f < 6 or i == "mouse1"]
    )
    r = video.evaluate_video(pred, truth, labelled_frames=[0, 1, 7])
    assert (r["frames_labelled"], r["frames_unlabelled"], r["frames_touching"]) == (3, 7, 4)
    assert r["misses_touching"] == 4 and r["num_objects_touching"] == 8
    assert r["misses_labelled"] == 1 and r["misses_unlabelled"] == 3
    assert r["misses"] == 4 and r["mota"] == pytest.approx(1 - 4 / 20)
    # keypoint truth has no touching part
    pts = points([(0, "a", 10.0, 10.0), (1, "a", 10.0, 10.0)])
    r = video.evaluate_video(pts.assign(source="detected"), pts, [1], match="centroid")
    assert r["frames_touching"] == 0 and r["mota_touching"] is None
    assert r["mota_labelled"] == 1.0 and r["gate_px"] == 50.0


def test_summary_rows_for_baselines_and_videos_without_truth(tmp_path):
    t = truth_table().assign(source="detected", model="m")
    # mouse2 detected on 5 of 10 frames; mouse1 area constant
    t = t[(t["identity"] == "mouse1") | (t["frame"] < 5)]
    T.write(t, tmp_path / "tracks" / "m" / "v.parquet")
    T.write(t.assign(model="classical"), tmp_path / "tracks" / "classical" / "v.parquet")
    files = {(m, "v"): tmp_path / "tracks" / m / "v.parquet" for m in ("m", "classical")}
    rows = summary.summary_rows(
        [], files, [], ["m"], ["v"], [], pairs=[("m", "v"), ("classical", "v")]
    )
    assert [(r["model"], r["kind"]) for r in rows] == [("m", "model"), ("classical", "classical")]
    assert rows[0]["detection_rate"] == pytest.approx(15 / 20)
    assert rows[0]["area_cv"] == pytest.approx(0.0)
    assert rows[0]["has_truth"] is False and rows[0]["mota_unlabelled"] is None


def test_summary_rows_key_track_tables_by_the_mapping_not_their_paths(tmp_path):
    """Where a track table lies says nothing: a table under an unrelated name (and under a
    folder named like another tracker) lands in the row of the key it is given."""
    t = truth_table().assign(source="detected", model="m")
    T.write(t, tmp_path / "classical" / "w.parquet", stats={"infer_frames": 8, "infer_seconds": 2})
    T.write(t[t["frame"] < 5], tmp_path / "a" / "b.parquet")
    tracks = {
        ("m", "v"): tmp_path / "classical" / "w.parquet",
        ("m", "w"): tmp_path / "a/b.parquet",
    }
    rows = summary.summary_rows([], tracks, [], ["m"], ["v", "w"], [], pairs=[*tracks, ("m", "x")])
    by_pair = {(r["model"], r["video"]): r for r in rows}
    assert list(by_pair) == [("m", "v"), ("m", "w"), ("m", "x")]
    assert (by_pair["m", "v"]["track_rows"], by_pair["m", "v"]["infer_fps"]) == (2 * N, 4.0)
    assert (by_pair["m", "w"]["track_rows"], by_pair["m", "w"]["infer_fps"]) == (10, None)
    assert by_pair["m", "x"]["track_rows"] == 0 and by_pair["m", "x"]["detection_rate"] is None
    with pytest.raises(TypeError, match="map"):
        summary.summary_rows([], list(tracks.values()), [], ["m"], ["v"], [])
