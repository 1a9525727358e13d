"""Behaviour features: analytic cases (a moving ellipse, two approaching animals), missing
frames, keypoint features with arena landmarks, the real DeepLabCut open-field file, storage."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.behaviour import features as F
from ethoflow.behaviour import pose as P
from ethoflow.io import masks as M
from ethoflow.io import tracktable
from ethoflow.io.keypoints import KeypointError, KeypointSet, make_table, read_keypoints

FPS = 25.0
SIZE = 96


def ellipse(cx, cy, a, b, th, size=SIZE):
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    u = (xx - cx) * np.cos(th) + (yy - cy) * np.sin(th)
    v = -(xx - cx) * np.sin(th) + (yy - cy) * np.cos(th)
    return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def rows(animal, frames, masks, source="detected"):
    out = []
    for f, m in zip(frames, masks):
        out.append(
            dict(
                video="v",
                model="m",
                frame=int(f),
                time_s=f / FPS,
                identity=animal,
                score=1.0,
                **tracktable.geometry(m),
                mask=M.encode(m),
                source=source,
            )
        )
    return out


def moving(animal, n, start, step, a, b, th):
    pos = np.asarray(start, float) + np.arange(n)[:, None] * np.asarray(step, float)
    return rows(animal, range(n), [ellipse(x, y, a, b, th) for x, y in pos])


def at(df, animal):
    return df[df["animal"] == animal].set_index("frame")


# --------------------------------------------------------------------------------------------
# masks


def test_rle_intervals_and_pair_geometry_match_brute_force():
    rng = np.random.default_rng(3)
    ms = [rng.random((int(h), int(w))) < 0.3 for h, w in rng.integers(3, 30, (20, 2))]
    ms += [ellipse(*rng.uniform(0, 40, 2), *rng.uniform(1, 9, 2), 0.5, size=40) for _ in range(40)]
    rles = [M.encode(m) for m in ms]
    iv = F.intervals([r["counts"] for r in rles], np.array([r["size"][0] for r in rles]))
    g = F.moments(iv, len(ms))
    for i, m in enumerate(ms):
        rec = np.zeros_like(m)
        sel = iv["owner"] == i
        for c, t, b in zip(iv["col"][sel], iv["top"][sel], iv["bot"][sel]):
            rec[t : b + 1, c] = True
        assert (rec == m).all()
        assert g["area"][i] == m.sum()
    ma, mb = np.arange(20, 40), np.arange(40, 60)
    gap, inter = F.pair_geometry(iv, ma, mb, max_elements=100)
    for a, b, d, ov in zip(ma, mb, gap, inter):
        ya, xa = np.nonzero(ms[a])
        yb, xb = np.nonzero(ms[b])
        gx = np.maximum(np.abs(xa[:, None] - xb[None]) - 1, 0)
        gy = np.maximum(np.abs(ya[:, None] - yb[None]) - 1, 0)
        assert d == pytest.approx(np.sqrt(gx**2 + gy**2).min())
        assert ov == (ms[a] & ms[b]).sum()


# --------------------------------------------------------------------------------------------
# one animal


@pytest.mark.parametrize("backwards", [False, True])
def test_moving_ellipse_speed_heading_and_shape(backwards):
    th = 0.4
    sign = -1.0 if backwards else 1.0
    step = sign * 1.6 * np.array([np.cos(th), np.sin(th)])  # 1.6 px/frame = 40 px/s
    start = (30, 30) if not backwards else (66, 66)
    tracks = pd.DataFrame(moving("m1", 20, start, step, 12.0, 5.0, th))
    df, meta = F.compute_features(video="v", fps=FPS, animals=["m1"], tracks=tracks)
    assert len(df) == 20 and (df["status"] == "detected").all() and (df["partner"] == "").all()
    inner = df.iloc[2:-2]
    assert inner["speed"].median() == pytest.approx(40.0, rel=0.03)
    heading = th + (np.pi if backwards else 0.0)
    err = np.abs(F.wrap(inner["heading"].to_numpy() - heading))
    assert err.max() < 0.1
    assert inner["length"].median() == pytest.approx(24.0, rel=0.04)
    assert inner["width"].median() == pytest.approx(10.0, rel=0.06)
    assert inner["area"].median() == pytest.approx(np.pi * 60, rel=0.05)
    assert np.abs(inner["angular_velocity"]).max() < 1.0
    assert np.isnan(df["speed"].iloc[0]) and np.isnan(df["speed"].iloc[-1])
    assert meta["units"]["speed"] == "px/s" and meta["units"]["heading"] == "rad"
    assert "speed_mean_0.5s" in meta["feature_columns"] and "speed_max_1s" in df
    assert meta["source"] == "tracks" and meta["animals"] == ["m1"]
    assert all(df[c].dtype == np.float32 for c in F.feature_columns(meta))

    mm, mmeta = F.compute_features(video="v", fps=FPS, animals=["m1"], tracks=tracks, px_per_mm=4)
    assert mm["speed"].iloc[2:-2].median() == pytest.approx(10.0, rel=0.03)
    assert mm["area"].median() == pytest.approx(df["area"].median() / 16, rel=1e-5)
    assert mmeta["units"]["speed"] == "mm/s" and mmeta["units"]["area"] == "mm2"
    assert mmeta["units"]["area_rate"] == "mm2/s" and mmeta["units"]["heading"] == "rad"
    assert mmeta["units"]["speed_mean_0.5s"] == "mm/s"


def test_missing_frames_stay_missing_and_interpolated_is_kept():
    tracks = moving("m1", 30, (20, 40), (1.5, 0), 10.0, 5.0, 0.0)
    tracks = [r for r in tracks if r["frame"] not in (10, 11, 12)]
    for r in tracks:
        if r["frame"] in (20, 21):
            r["source"] = "interpolated"
    tracks += moving("m2", 30, (60, 70), (0, 0), 8.0, 6.0, 1.0)
    df, meta = F.compute_features(
        video="v", fps=FPS, animals=["m1", "m2"], tracks=pd.DataFrame(tracks)
    )
    assert len(df) == 60
    assert list(df["animal"].iloc[:30]) == ["m1"] * 30 and list(df["frame"].iloc[:30]) == list(
        range(30)
    )
    m1, m2 = at(df, "m1"), at(df, "m2")
    assert (m1.loc[10:12, "status"] == "missing").all()
    assert (m1.loc[20:21, "status"] == "interpolated").all()
    cols = F.feature_columns(meta)
    assert m1.loc[10:12, cols].isna().all().all()
    assert np.isnan(m1.loc[9, "speed"]) and np.isnan(m1.loc[13, "speed"])
    assert np.isfinite(m1.loc[8, "speed"]) and np.isfinite(m1.loc[14, "speed"])
    assert (m1.loc[10:12, "partner"] == "").all() and (m1.loc[0:9, "partner"] == "m2").all()
    assert (m2.loc[10:12, "partner"] == "").all() and m2.loc[10:12, "p1_distance"].isna().all()
    assert np.isfinite(m2.loc[10:12, "speed"]).all()  # m2 itself is there
    df2, _ = F.compute_features(
        video="v", fps=FPS, animals=["m1", "m2"], tracks=pd.DataFrame(tracks), n_frames=40
    )
    assert len(df2) == 80 and (at(df2, "m1").loc[30:, "status"] == "missing").all()


# --------------------------------------------------------------------------------------------
# two animals


def test_two_animals_approaching():
    n = 24
    a = moving("a", n, (12, 48), (2.0, 0), 9.0, 4.0, 0.0)  # heads right, towards b
    b = moving("b", n, (70, 48), (0, 0), 9.0, 4.0, 0.0)
    df, meta = F.compute_features(
        video="v", fps=FPS, animals=["a", "b"], tracks=pd.DataFrame(a + b), exact_px=None
    )
    da, db = at(df, "a"), at(df, "b")
    assert (da["partner"] == "b").all() and (db["partner"] == "a").all()
    assert (da["p1_distance_rate"].iloc[1:-1] < 0).all()
    assert da["p1_distance_rate"].iloc[1:-1].to_numpy() == pytest.approx(-50.0, rel=0.05)
    assert da["p1_facing"].abs().max() < 0.05
    assert da["p1_partner_speed"].iloc[1:-1].max() < 1e-6
    assert db["p1_partner_speed"].iloc[2:-2].to_numpy() == pytest.approx(50.0, rel=0.05)
    assert (da["p1_distance"] == db["p1_distance"]).all()
    # distance: the centre gap minus the two semi-axes (9) and one pixel (pixel squares)
    gap = (70 - (12 + 2.0 * np.arange(n))) - 18
    far = gap > 3
    assert np.abs(da["p1_mask_distance"].to_numpy()[far] - (gap[far] - 1)).max() <= 1.0
    overlap = gap < -2
    assert overlap.any() and (da["p1_mask_iou"].to_numpy()[overlap] > 0).all()
    assert (da["p1_mask_distance"].to_numpy()[gap < 0] == 0).all()
    assert (da["p1_mask_iou"].to_numpy()[gap > 1] == 0).all()
    assert (da["p1_bbox_iou"].to_numpy()[overlap] > da["p1_mask_iou"].to_numpy()[overlap]).all()
    assert meta["units"]["p1_mask_iou"] == "1" and meta["units"]["p1_facing"] == "rad"
    # the box-gap bound far apart, exact near
    df2, _ = F.compute_features(video="v", fps=FPS, animals=["a", "b"], tracks=pd.DataFrame(a + b))
    d1, d2 = at(df, "a")["p1_mask_distance"], at(df2, "a")["p1_mask_distance"]
    assert (d2 <= d1 + 1e-6).all() and (d2[gap < 15] == d1[gap < 15]).all()


def test_separated_disks_distance_and_three_animal_ranking():
    r = 6.0
    disks = {"a": (20, 30), "b": (50, 30), "c": (30, 70)}
    tracks = []
    for name, (x, y) in disks.items():
        tracks += rows(name, range(5), [ellipse(x, y, r, r, 0.0)] * 5)
    tracks = pd.DataFrame(tracks)
    path_df = tracks.copy()
    df, meta = F.compute_features(video="v", fps=FPS, animals=list(disks), tracks=path_df)
    da = at(df, "a")
    assert (da["partner"] == "b").all()  # b is 30 px away, c 41
    assert da["p1_distance"].iloc[0] == pytest.approx(30.0, abs=0.2)
    assert da["p2_distance"].iloc[0] == pytest.approx(np.hypot(10, 40), abs=0.2)
    ma, mb = ellipse(20, 30, r, r, 0), ellipse(50, 30, r, r, 0)
    ya, xa = np.nonzero(ma)
    yb, xb = np.nonzero(mb)
    exact = np.sqrt(
        np.maximum(np.abs(xa[:, None] - xb[None]) - 1, 0) ** 2
        + np.maximum(np.abs(ya[:, None] - yb[None]) - 1, 0) ** 2
    ).min()
    assert da["p1_mask_distance"].iloc[0] == pytest.approx(exact)
    assert abs(exact - (30 - 2 * r)) <= 1.5
    assert "p2_mask_distance" in meta["feature_columns"] and "p3_distance" not in df


# --------------------------------------------------------------------------------------------
# keypoints


def pose_set(n=20, low_score_frame=5):
    """Two animals with nodes nose, neck, tailbase walking right; four arena corners."""
    rec = []
    corners = {"tl": (0, 0), "tr": (199, 0), "bl": (0, 99), "br": (199, 99)}
    for f in range(n):
        for ident, y0 in (("a", 30.0), ("b", 60.0)):
            x0 = 40.0 + 2.0 * f
            for node, dx in (("nose", 10.0), ("neck", 4.0), ("tailbase", -10.0)):
                score = 0.1 if (f == low_score_frame and node == "neck") else 0.9
                rec.append((f, ident, node, x0 + dx, y0, score))
        for node, (x, y) in corners.items():
            rec.append((f, "a", node, x, y, 0.99))
    fr, ident, node, x, y, s = zip(*rec)
    table = make_table(fr, None, ident, node, x, y, [True] * len(fr), s, ["predicted"] * len(fr))
    nodes = ["tl", "tr", "bl", "br", "nose", "neck", "tailbase"]
    return KeypointSet(table, nodes, [], ["a", "b"], None, "dlc", "pose.csv")


def test_keypoint_features_with_landmarks():
    ks = pose_set()
    df, meta = F.compute_features(
        video="v", fps=FPS, animals=["a", "b"], keypoints=ks, landmarks=("tl", "tr", "bl", "br")
    )
    assert meta["source"] == "keypoints" and meta["pose"]
    assert meta["nose"] == "nose" and meta["tail"] == "tailbase"
    assert meta["body_nodes"] == ["nose", "neck", "tailbase"]
    cols = F.feature_columns(meta)
    for mark in ("tl", "tr", "bl", "br"):
        assert not any(c.endswith("_" + mark) or f"_{mark}_" in c for c in cols)
    da = at(df, "a")
    assert (da["status"] == "detected").all()
    assert da["node_dist_nose_tailbase"].iloc[0] == pytest.approx(20.0)
    assert da["length"].iloc[0] == pytest.approx(20.0)
    assert da["node_speed_nose"].iloc[1:-1].to_numpy() == pytest.approx(50.0)
    # the centroid is the mean of the nodes seen: it shifts when the neck is unsure (frame 5)
    assert da["speed"].drop([0, 4, 5, 6, 19]).to_numpy() == pytest.approx(50.0)
    assert np.abs(da["heading"]).max() < 1e-9
    ext = np.mean(np.abs(np.array([10.0, 4.0, -10.0]) - np.mean([10.0, 4.0, -10.0])))
    assert da["extension"].iloc[0] == pytest.approx(ext)
    assert np.isnan(da.loc[5, "node_dist_nose_neck"])
    assert da.loc[[4, 6], "node_speed_neck"].isna().all()  # the rates next to the unsure point
    assert np.isfinite(da.loc[5, "node_dist_nose_tailbase"])
    # arena: the corners (pixel centres, +0.5) -> the box 0.5..199.5 x 0.5..99.5
    assert da["edge_distance"].iloc[0] == pytest.approx(30.0)  # y = 30.5, top edge at 0.5
    assert meta["units"]["edge_distance"] == "px"
    assert (da["partner"] == "b").all()
    assert da["p1_nose_nose"].iloc[0] == pytest.approx(30.0)
    assert da["p1_nose_tail"].iloc[0] == pytest.approx(np.hypot(20, 30))
    assert da["p1_facing"].iloc[0] == pytest.approx(np.pi / 2)
    assert "p1_mask_iou" not in df


def test_keypoints_as_a_bare_table_and_with_tracks():
    ks = pose_set()
    tracks = moving("a", 20, (50.5, 30.5), (2.0, 0), 10.0, 4.0, 0.0)
    tracks += moving("b", 20, (50.5, 60.5), (2.0, 0), 10.0, 4.0, 0.0)
    df, meta = F.compute_features(
        video="v",
        fps=FPS,
        animals=["a", "b"],
        tracks=pd.DataFrame(tracks),
        keypoints=ks.table[~ks.table["node"].isin(["tl", "tr", "bl", "br"])],
        nose="nose",
        tail="tailbase",
    )
    assert meta["source"] == "tracks" and meta["pose"]
    assert {"width", "p1_mask_iou", "p1_nose_tail", "node_speed_neck"} <= set(df.columns)
    with pytest.raises(F.EthoflowError, match="no nose node"):
        F.compute_features(video="v", fps=FPS, animals=["a"], keypoints=ks, nose="snoot")
    with pytest.raises(F.EthoflowError, match="landmarks"):
        F.compute_features(video="v", fps=FPS, animals=["a"], keypoints=ks, landmarks=("x",))


def test_edge_distance_and_hull():
    hull = P.convex_hull(np.array([[0, 0], [10, 0], [0, 10], [10, 10], [5, 5]]))
    assert len(hull) == 4
    d = P.edge_distance(np.array([5.0, 1.0, 12.0, np.nan]), np.array([5.0, 5.0, 5.0, 1]), hull)
    assert d[:3] == pytest.approx([5.0, 1.0, -2.0]) and np.isnan(d[3])


def dlc_analysis_csv(path):
    """A DeepLabCut analysis CSV (scorer/bodyparts/coords rows, a frame per row) as a
    KeypointSet, whatever the leading index columns."""
    raw = pd.read_csv(path, header=None, dtype=str)
    c0 = next(c for c in raw.columns if raw[c].iloc[1] == "bodyparts")
    parts, coords = raw.iloc[1, c0 + 1 :].to_numpy(), raw.iloc[2, c0 + 1 :].to_numpy()
    vals = raw.iloc[3:, c0 + 1 :].to_numpy(dtype=float)
    frames = raw.iloc[3:, c0].to_numpy(dtype=np.int64)
    nodes = list(dict.fromkeys(parts))
    get = {(p, c): vals[:, k] for k, (p, c) in enumerate(zip(parts, coords))}
    n = len(frames)
    table = make_table(
        np.tile(frames, len(nodes)),
        None,
        ["animal"] * n * len(nodes),
        np.repeat(nodes, n),
        np.concatenate([get[p, "x"] for p in nodes]),
        np.concatenate([get[p, "y"] for p in nodes]),
        np.ones(n * len(nodes), bool),
        np.concatenate([get[p, "likelihood"] for p in nodes]),
        ["predicted"] * n * len(nodes),
    )
    return KeypointSet(table, nodes, [], ["animal"], None, "dlc", str(path))


def test_real_deeplabcut_open_field(shared_data):
    path = shared_data / "oft-rearing" / "OFT_44.DLC.csv"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    try:
        ks = read_keypoints(path)
    except KeypointError:
        # ethoflow.io.dlc does not read this analysis export (an extra leading index column,
        # frame numbers as the rows) yet: the same table, read here
        ks = dlc_analysis_csv(path)
    marks = ("tl", "tr", "bl", "br", "centre")
    df, meta = F.compute_features(
        video="OFT_44", fps=25.0, animals=ks.identities, keypoints=ks, landmarks=marks
    )
    assert len(ks.identities) == 1 and len(df) == 1998
    assert meta["nose"] == "nose" and meta["tail"] == "tailbase"
    assert not set(meta["body_nodes"]) & set(marks)
    node_cols = [c for c in F.feature_columns(meta) if c.startswith("node_")]
    assert node_cols and all(not any(m in c.split("_")[2:] for m in marks) for c in node_cols)
    assert len(meta["arena"]) == 4
    edge = df["edge_distance"].to_numpy()
    ok = np.isfinite(edge)
    assert ok.mean() > 0.8 and (edge[ok] > 0).mean() > 0.9
    assert np.nanmedian(df["speed"]) > 0 and np.isfinite(df["heading"]).mean() > 0.5


# --------------------------------------------------------------------------------------------
# storage


def test_write_read_round_trip(tmp_path):
    tracks = pd.DataFrame(moving("m1", 10, (30, 30), (1, 1), 8.0, 4.0, 0.78))
    tracktable.write(tracks, tmp_path / "t.parquet")
    tracks = tracktable.read(tmp_path / "t.parquet")  # masks as Arrow gives them back
    df, meta = F.compute_features(video="v", fps=FPS, animals=["m1"], tracks=tracks, px_per_mm=2.0)
    F.write_features(df, meta, tmp_path / "f.parquet")
    back, bmeta = F.read_features(tmp_path / "f.parquet")
    assert bmeta == {**meta, "windows_s": [0.5, 1.0]}
    pd.testing.assert_frame_equal(back, df, check_dtype=False, check_like=False)
    assert all(back[c].dtype == np.float32 for c in F.feature_columns(bmeta))
    F.write_features(df, tmp_path / "g.parquet")  # the metadata from df.attrs
    assert F.read_features(tmp_path / "g.parquet")[1]["units"] == meta["units"]
    with pytest.raises(F.EthoflowError, match="not a feature table"):
        F.read_features(tmp_path / "t.parquet")
    with pytest.raises(F.EthoflowError, match="file not found"):
        F.read_features(tmp_path / "nope.parquet")


def test_edge_distance_per_node_per_animal_and_pose_confidence():
    ks = pose_set()
    marks = ("tl", "tr", "bl", "br")
    df, meta = F.compute_features(
        video="v", fps=FPS, animals=["a", "b"], keypoints=ks, landmarks=marks
    )
    assert meta["edge_nodes"] == ["nose", "tailbase"]  # by default the two ends
    da, db = at(df, "a"), at(df, "b")
    # each animal's own distance (a at y = 30.5, b at y = 60.5; the box is 0.5..99.5 in y)
    assert da["edge_distance"].iloc[0] == pytest.approx(30.0)
    assert db["edge_distance"].iloc[0] == pytest.approx(39.0)
    # frame 0: nose at x = 50.5, tail base at 30.5; the left edge at x = 0.5
    assert da["edge_distance_nose"].iloc[0] == pytest.approx(30.0)
    assert da["edge_distance_tailbase"].iloc[0] == pytest.approx(30.0)
    assert da["edge_distance_tailbase"].iloc[1] == pytest.approx(30.0)  # y still nearer
    assert db["edge_distance_nose"].iloc[0] == pytest.approx(39.0)
    assert "edge_distance_nose_mean_1s" in meta["window_columns"]
    assert not F.is_window_column("edge_distance_nose")
    assert F.is_window_column("edge_distance_nose_mean_1s")
    # pose confidence: the neck below min_score on frame 5 -> 2 of 3 nodes, mean score lower
    assert da["pose_confident"].iloc[0] == pytest.approx(1.0)
    assert da["pose_confident"].iloc[5] == pytest.approx(2 / 3)
    assert da["pose_score"].iloc[0] == pytest.approx(0.9)
    assert da["pose_score"].iloc[5] == pytest.approx((0.9 + 0.1 + 0.9) / 3)
    assert meta["units"]["pose_score"] == "1"
    named, meta2 = F.compute_features(
        video="v",
        fps=FPS,
        animals=["a", "b"],
        keypoints=ks,
        landmarks=marks,
        edge_nodes=["neck"],
    )
    assert meta2["edge_nodes"] == ["neck"] and "edge_distance_nose" not in named
    with pytest.raises(F.EthoflowError, match=r"pose.csv: edge_nodes \['tl'\] are not body"):
        F.compute_features(
            video="v", fps=FPS, animals=["a"], keypoints=ks, landmarks=marks, edge_nodes=["tl"]
        )
    # without an arena there is no edge to measure from
    bare, meta3 = F.compute_features(video="v", fps=FPS, animals=["a", "b"], keypoints=ks)
    assert meta3["edge_nodes"] == [] and "edge_distance_nose" not in bare


def test_pose_confidence_is_missing_where_the_animal_is_and_stays_out_of_windows():
    ks = pose_set(n=30, low_score_frame=-1)
    t = ks.table
    gone = (t["identity"] == "a") & t["frame"].between(8, 11)
    df, meta = F.compute_features(
        video="v",
        fps=FPS,
        animals=["a", "b"],
        keypoints=t[~gone],
        landmarks=("tl", "tr", "bl", "br"),
    )
    da = at(df, "a")
    assert (da.loc[8:11, "status"] == "missing").all()
    assert da.loc[8:11, ["pose_confident", "pose_score"]].isna().all().all()
    win = F.window_length(1.0, FPS) // 2
    near = [f for f in range(30) if not 8 <= f <= 11 and min(abs(f - 8), abs(f - 11)) <= win]
    assert near and (da.loc[near, "pose_confident_mean_1s"] == 1.0).all()
    assert da.loc[near, "pose_score_min_1s"].to_numpy() == pytest.approx(0.9)


def test_smoothing_removes_centroid_jitter_and_keeps_gaps_and_overlaps():
    rng = np.random.default_rng(3)
    n = 60
    start = np.array([20.0, 40.0]) + rng.choice([-1.0, 1.0], (n, 2))  # +-1 px segmentation jitter
    pos = start + np.arange(n)[:, None] * np.array([0.8, 0.0])  # 0.8 px/frame = 20 px/s
    tracks = rows("m1", range(n), [ellipse(x, y, 9.0, 5.0, 0.0) for x, y in pos])
    tracks = [r for r in tracks if r["frame"] not in (30, 31)]
    tracks += rows("m2", range(n), [ellipse(60.0, 42.0, 9.0, 5.0, 0.0)] * n)
    kw = dict(video="v", fps=FPS, animals=["m1", "m2"], tracks=pd.DataFrame(tracks))
    raw, _ = F.compute_features(**kw)
    smooth, meta = F.compute_features(**kw, smooth_s=0.2)  # 5 frames at 25 fps
    assert meta["smooth_s"] == 0.2
    r, s = at(raw, "m1"), at(smooth, "m1")
    inner = [f for f in range(3, n - 3) if abs(f - 30.5) > 4]
    err_raw = np.abs(r.loc[inner, "speed"] - 20.0).mean()
    err_smooth = np.abs(s.loc[inner, "speed"] - 20.0).mean()
    assert err_raw > 10.0 and err_smooth < 0.5 * err_raw
    assert s.loc[30:31, F.feature_columns(meta)].isna().all().all()  # missing stays missing
    assert np.isfinite(s.loc[29, "x"]) and np.isnan(s.loc[29, "speed"])
    # overlaps come from the pixels, not from the smoothed areas
    assert np.allclose(r["p1_mask_iou"], s["p1_mask_iou"], equal_nan=True)
