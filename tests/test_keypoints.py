"""Keypoint importers on the real SLEAP fly clip and DeepLabCut mouse labels, plus broken copies."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import h5py
import numpy as np
import pandas as pd
import pytest

from ethoflow.io import EthoflowError
from ethoflow.io.dlc import read_dlc
from ethoflow.io.keypoints import (
    KeypointError,
    KeypointSet,
    centroids,
    load_keypoints,
    read_keypoints,
    rename_identities,
    write_keypoints,
)
from ethoflow.io.sleap import read_sleap

FLY_NODES = [
    "head",
    "thorax",
    "abdomen",
    "wingL",
    "wingR",
    "forelegL4",
    "forelegR4",
    "midlegL4",
    "midlegR4",
    "hindlegL4",
    "hindlegR4",
    "eyeL",
    "eyeR",
]
MOUSE_NODES = ["snout", "leftear", "rightear", "tailbase"]


@pytest.fixture(scope="module")
def fly(shared_data) -> Path:
    return shared_data / "sleap-fly-clip"


@pytest.fixture(scope="module")
def mouse(shared_data) -> Path:
    return shared_data / "dlc-openfield-mouse" / "labeled-data" / "m4s1"


def instances_per_frame(ks: KeypointSet) -> pd.Series:
    """Sorted tuple of the identities present in each frame."""
    pairs = ks.table[["frame", "identity"]].drop_duplicates()
    return pairs.groupby("frame")["identity"].agg(lambda s: tuple(sorted(s)))


# ------------------------------------------------------------------------------- real files


def test_sleap_proofread_labels(fly):
    ks = read_keypoints(fly / "clip.slp")
    t = ks.table
    assert ks.format == "sleap" and ks.path == str(fly / "clip.slp")
    assert ks.nodes == FLY_NODES
    assert ("thorax", "head") in ks.edges and ("head", "eyeL") in ks.edges
    assert len(ks.edges) == 12 and all(a in FLY_NODES and b in FLY_NODES for a, b in ks.edges)
    assert ks.identities == ["female", "male"]
    assert Path(ks.video) == fly / "clip.mp4"
    assert list(t.columns) == [
        "frame", "image", "identity", "node", "x", "y", "visible", "score", "source"
    ]  # fmt: skip
    assert t["frame"].dtype == np.int64 and t["visible"].dtype == bool
    assert t["x"].dtype == np.float64 and t["score"].dtype == np.float64
    # every one of the 1500 frames holds both flies, with all 13 nodes each
    per_frame = instances_per_frame(ks)
    assert per_frame.index.tolist() == list(range(1500))
    assert (per_frame == ("female", "male")).all()
    assert len(t) == 1500 * 2 * 13
    assert (t["source"] == "user").all() and t["score"].isna().all() and t["image"].isna().all()
    vis = t[t["visible"]]
    assert vis["x"].between(0, 1024).all() and vis["y"].between(0, 1024).all()
    assert vis["x"].max() - vis["x"].min() > 400  # the flies walk over much of the arena
    # points marked missing (NaN in the file) are invisible rows with NaN coordinates
    hidden = t[~t["visible"]]
    assert 0 < len(hidden) < 0.05 * len(t)
    assert hidden["x"].isna().all() and hidden["y"].isna().all()
    assert set(hidden["node"]) <= set(FLY_NODES) - {"head", "thorax", "abdomen"}
    # first values exactly as stored in the file (pixel-centre convention, format 1.1)
    first = t[(t.frame == 0) & (t.identity == "female") & (t.node == "head")].iloc[0]
    assert (first.x, first.y) == (435.25, 415.75)


def test_sleap_predictions(fly):
    ks = read_sleap(fly / "clip.predictions.slp")
    t = ks.table
    assert ks.nodes == ["head", "thorax"] and ks.edges == [("thorax", "head")]
    assert ks.identities == ["female", "male"]
    # the video is written as tests/data/tracks/clip.mp4; the one beside the .slp is found
    assert Path(ks.video) == fly / "clip.mp4"
    assert (t["source"] == "predicted").all()
    assert t["score"].notna().all() and (t["score"] >= 0).all()  # peak values, may exceed 1
    per_frame = instances_per_frame(ks)
    assert len(per_frame) == 1500
    counts = per_frame.value_counts()
    assert counts[("female", "male")] == 1448 and counts[("female",)] == 52
    assert len(t) == 2948 * 2
    vis = t[t["visible"]]
    assert vis["x"].between(0, 1024).all() and vis["y"].between(0, 1024).all()

    # the tracker's "female"/"male" are the proofread flies of those names in most frames:
    # thorax to thorax, the same-name pairing is closer than the swapped one
    def thorax(ks):
        t = ks.table[ks.table.node == "thorax"]
        return t.pivot(index="frame", columns="identity", values=["x", "y"])

    u, p = thorax(read_sleap(fly / "clip.slp")), thorax(ks).dropna()
    u = u.loc[p.index]

    def cost(a, b):
        return np.hypot(u["x", a] - p["x", b], u["y", a] - p["y", b])

    same = cost("female", "female") + cost("male", "male")
    swapped = cost("female", "male") + cost("male", "female")
    assert len(p) > 1300 and (same < swapped).mean() > 0.95


def test_sleap_unresolved_video_as_written(fly):
    ks = read_sleap(fly / "clip.predictions.slp", resolve_video=False)
    assert ks.video == "tests/data/tracks/clip.mp4"


def test_dlc_h5_and_csv_agree(mouse):
    h5 = read_keypoints(mouse / "CollectedData_Pranav.h5")
    cs = read_keypoints(mouse / "CollectedData_Pranav.csv")
    for ks in (h5, cs):
        assert ks.format == "dlc" and ks.video is None
        assert ks.nodes == MOUSE_NODES and ks.identities == ["animal"] and ks.edges == []
    pd.testing.assert_frame_equal(h5.table, cs.table)
    t = h5.table
    assert t["frame"].unique().tolist() == list(range(116))
    assert len(t) == 116 * 4 and t["visible"].all() and (t["source"] == "user").all()
    assert t["image"].iloc[0] == "labeled-data/m4s1/img0000.png"
    assert t[t.frame == 42]["image"].unique().tolist() == ["labeled-data/m4s1/img0042.png"]
    assert t["x"].between(0, 640).all() and t["y"].between(0, 480).all()
    row = t[(t.frame == 1) & (t.node == "tailbase")].iloc[0]
    assert (row.x, row.y) == (95.821, 221.361)
    named = read_dlc(mouse / "CollectedData_Pranav.h5", identities=["m4"])
    assert named.identities == ["m4"] and set(named.table["identity"]) == {"m4"}


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((8, 8, 3), np.uint8))


def _multi_csv(root: Path) -> Path:
    """A 2-mouse DLC project (DeepLabCut >= 2.2 layout: 3 index columns, 4 header rows)."""
    inds = ["m1", "m1", "m1", "m1", "m2", "m2", "m2", "m2", "single", "single"]
    parts = ["snout", "snout", "tail", "tail", "snout", "snout", "tail", "tail", "led", "led"]
    lines = [
        "scorer,,," + ",".join(["me"] * 10),
        "individuals,,," + ",".join(inds),
        "bodyparts,,," + ",".join(parts),
        "coords,,," + ",".join(["x", "y"] * 5),
        "labeled-data,v1,img007.png,1,2,3,4,10,20,30,40,5,5",
        "labeled-data,v1,img012.png,1.5,2.5,,,,,,,5,5",  # m1 without tail; m2 absent
    ]
    dest = root / "labeled-data" / "v1" / "CollectedData_me.csv"
    dest.parent.mkdir(parents=True)
    dest.write_text("\n".join(lines) + "\n")
    for name in ("img007.png", "img012.png"):
        _png(dest.parent / name)
    (root / "config.yaml").write_text("skeleton:\n- [snout, tail]\n- [snout, nose]\n")
    return dest


def test_dlc_multi_animal_csv(tmp_path):
    path = _multi_csv(tmp_path)
    ks = read_keypoints(path)
    assert ks.identities == ["m1", "m2"]  # the "single" pseudo-animal is left out
    assert ks.nodes == ["snout", "tail"] and ks.edges == [("snout", "tail")]
    t = ks.table
    assert sorted(set(t["frame"])) == [7, 12]
    assert instances_per_frame(ks).to_dict() == {7: ("m1", "m2"), 12: ("m1",)}
    m1 = t[(t.frame == 12) & (t.identity == "m1")].set_index("node")
    assert m1.loc["snout", "visible"] and (m1.loc["snout", "x"], m1.loc["snout", "y"]) == (1.5, 2.5)
    assert not m1.loc["tail", "visible"] and np.isnan(m1.loc["tail", "x"])
    assert t.loc[t.frame == 12, "image"].unique().tolist() == ["labeled-data/v1/img012.png"]
    with_led = read_dlc(path, identities=["single", "m2"])
    assert with_led.identities == ["single", "m2"] and with_led.nodes == ["snout", "tail", "led"]
    assert set(with_led.table[with_led.table.identity == "single"]["node"]) == {"led"}
    # the same table as HDF5 with DeepLabCut's 3-level row index (pandas parses the CSV here)
    wide = pd.read_csv(path, header=[0, 1, 2, 3], index_col=[0, 1, 2])
    wide.to_hdf(path.with_suffix(".h5"), key="df_with_missing")
    pd.testing.assert_frame_equal(read_dlc(path.with_suffix(".h5")).table, t)
    with pytest.raises(KeypointError, match=r"no individuals \['m3'\]"):
        read_dlc(path, identities=["m3"])


def test_dlc_likelihood_is_predicted(tmp_path):
    cols = pd.MultiIndex.from_product(
        [["DLC_resnet50"], ["snout", "tail"], ["x", "y", "likelihood"]],
        names=["scorer", "bodyparts", "coords"],
    )
    df = pd.DataFrame([[1, 2, 0.9, 3, 4, 0.1], [5, 6, 0.8, 7, 8, 0.7]], columns=cols, index=[3, 4])
    dest = tmp_path / "videoDLC_resnet50.h5"
    df.to_hdf(dest, key="df_with_missing")
    ks = read_dlc(dest)
    t = ks.table
    assert (t["source"] == "predicted").all() and t["image"].isna().all()
    assert t["frame"].tolist() == [3, 3, 4, 4] and t["score"].tolist() == [0.9, 0.1, 0.8, 0.7]


# ------------------------------------------------------------------ storage, centroids, names


def test_write_load_round_trip(fly, mouse, tmp_path):
    for ks in (read_sleap(fly / "clip.slp"), read_dlc(mouse / "CollectedData_Pranav.csv")):
        dest = tmp_path / f"{ks.format}.parquet"
        write_keypoints(ks, dest)
        back = load_keypoints(dest)
        pd.testing.assert_frame_equal(back.table, ks.table)
        for field in ("nodes", "edges", "identities", "video", "format", "path"):
            assert getattr(back, field) == getattr(ks, field), field
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dlc.parquet", "sleap.parquet"]
    plain = tmp_path / "plain.parquet"
    pd.DataFrame({"a": [1]}).to_parquet(plain)
    with pytest.raises(KeypointError, match="plain.parquet: not an ethoflow keypoint table"):
        load_keypoints(plain)


def test_centroids(fly, mouse):
    dlc = read_dlc(mouse / "CollectedData_Pranav.h5").table
    c = centroids(dlc)
    assert len(c) == 116 and list(c.columns) == ["frame", "identity", "cx", "cy", "n_visible"]
    first = dlc[dlc.frame == 0]
    assert c.iloc[0].cx == pytest.approx(first.x.mean()) and c.iloc[0].n_visible == 4
    fly_t = read_sleap(fly / "clip.slp").table
    cf = centroids(fly_t)
    assert len(cf) == 3000 and cf["identity"].iloc[:2].tolist() == ["female", "male"]
    f0 = fly_t[(fly_t.frame == 0) & (fly_t.identity == "female")]
    row = cf.iloc[0]
    assert row.n_visible == f0.visible.sum() == 12  # one leg tip missing
    assert (row.cx, row.cy) == pytest.approx((f0.x.mean(), f0.y.mean()))
    # an instance with no visible point gives no centroid row
    t = dlc[dlc.frame < 2].copy()
    t.loc[t.frame == 1, "visible"] = False
    assert centroids(t)["frame"].tolist() == [0]


def test_rename_identities(fly):
    ks = read_sleap(fly / "clip.slp")
    named = rename_identities(ks, {"female": "F"})
    assert named.identities == ["F", "male"] and set(named.table.identity) == {"F", "male"}
    assert ks.identities == ["female", "male"]  # original untouched
    with pytest.raises(KeypointError, match="unknown identities"):
        rename_identities(ks, {"queen": "Q"})
    with pytest.raises(KeypointError, match="merge"):
        rename_identities(ks, {"female": "male"})


# -------------------------------------------------------------- synthetic SLEAP edge cases


def _write_slp(dest: Path, template: Path, frames: list[list[dict]], format_id: float = 1.2):
    """A small .slp (2-node skeleton, tracks A/B) with the given instances per frame; each
    instance: {"type": 0|1, "track": int, "xy": [[x, y], [x, y]], "from": iid (optional)}."""
    with h5py.File(template, "r") as t:
        meta_json = t["metadata"].attrs["json"]
        dt = {k: t[k].dtype for k in ("frames", "instances", "points", "pred_points")}
    fr, inst, pts, pred = [], [], [], []
    for fi, insts in enumerate(frames):
        start = len(inst)
        for spec in insts:
            table = pts if spec["type"] == 0 else pred
            p0 = len(table)
            for x, y in spec["xy"]:
                table.append((x, y, True, False) if spec["type"] == 0 else (x, y, True, False, 0.5))
            iid = len(inst)
            inst.append(
                (iid, spec["type"], fi, 0, spec["track"], spec.get("from", -1),
                 np.nan if spec["type"] == 0 else 0.9, p0, p0 + 2, 1.0)[: len(dt["instances"])]
            )  # fmt: skip
        fr.append((fi, 0, fi * 10, start, len(inst)))
    with h5py.File(dest, "w") as f:
        f.create_group("metadata")
        f["metadata"].attrs["format_id"] = format_id
        f["metadata"].attrs["json"] = meta_json
        f["videos_json"] = [json.dumps({"backend": {"filename": "synthetic.mp4"}}).encode()]
        f["tracks_json"] = [b'[0,"A"]', b'[0,"B"]']
        for name, rows in (("frames", fr), ("instances", inst), ("points", pts)):
            f[name] = np.array(rows, dtype=dt[name])
        f["pred_points"] = np.array(pred, dtype=dt["pred_points"])
    return dest


def test_sleap_user_and_predicted_same_animal(fly, tmp_path):
    xy_u, xy_p, xy_b = [[1, 1], [2, 2]], [[9, 9], [8, 8]], [[50, 50], [60, 60]]
    frames = [
        [  # a corrected prediction (linked by from_predicted) and an uncorrected one
            {"type": 1, "track": 0, "xy": xy_p},
            {"type": 1, "track": 1, "xy": xy_b},
            {"type": 0, "track": 0, "xy": xy_u, "from": 0},
        ],
        [  # user and predicted of track B without a link
            {"type": 1, "track": 1, "xy": xy_p},
            {"type": 0, "track": 1, "xy": xy_u},
        ],
    ]
    path = _write_slp(tmp_path / "mixed.slp", fly / "clip.predictions.slp", frames)
    user = read_sleap(path, resolve_video=False).table
    assert user.groupby(["frame", "identity"])["source"].first().to_dict() == {
        (0, "A"): "user", (0, "B"): "predicted", (10, "B"): "user"
    }  # fmt: skip
    assert user[(user.frame == 0) & (user.identity == "A")]["x"].tolist() == [1.0, 2.0]
    pred = read_sleap(path, prefer="predicted", resolve_video=False).table
    assert (pred["source"] == "predicted").all() and len(pred) == 3 * 2
    assert pred[(pred.frame == 0) & (pred.identity == "A")]["x"].tolist() == [9.0, 8.0]


def test_sleap_untracked(fly, tmp_path):
    one = [[{"type": 0, "track": -1, "xy": [[1, 1], [2, 2]]}]] * 3
    path = _write_slp(tmp_path / "one.slp", fly / "clip.predictions.slp", one, format_id=1.1)
    ks = read_sleap(path, resolve_video=False)
    assert ks.identities == ["animal"] and ks.table["frame"].unique().tolist() == [0, 10, 20]
    assert ks.nodes == ["head", "thorax"] and (ks.table["identity"] == "animal").all()
    two = [[{"type": 0, "track": -1, "xy": [[1, 1], [2, 2]]}] * 2]
    with pytest.raises(KeypointError, match=r"two\.slp: 1 frames hold several untracked"):
        path = _write_slp(tmp_path / "two.slp", fly / "clip.predictions.slp", two)
        read_sleap(path, resolve_video=False)


def test_sleap_legacy_pixel_corner(fly, tmp_path):
    frames = [[{"type": 0, "track": 0, "xy": [[10.0, 20.0], [30.0, 40.0]]}]]
    path = _write_slp(tmp_path / "old.slp", fly / "clip.predictions.slp", frames, format_id=1.0)
    t = read_sleap(path, resolve_video=False).table
    assert t["x"].tolist() == [9.5, 29.5] and t["y"].tolist() == [19.5, 39.5]


# ------------------------------------------------------------------------- broken inputs


def _raises(path: Path, match: str, **kw) -> KeypointError:
    with pytest.raises(KeypointError, match=match) as info:
        read_keypoints(path, **kw)
    assert str(info.value).startswith(f"{path}: ")
    assert isinstance(info.value, EthoflowError)
    return info.value


def test_truncated_slp(fly, tmp_path):
    bad = tmp_path / "truncated.slp"
    bad.write_bytes((fly / "clip.slp").read_bytes()[:1000])
    _raises(bad, "not a readable HDF5/SLEAP file")


def test_slp_without_points(fly, tmp_path):
    bad = tmp_path / "nopoints.slp"
    shutil.copy(fly / "clip.slp", bad)
    with h5py.File(bad, "r+") as f:
        del f["points"]
    _raises(bad, r"missing datasets \['points'\]")


def test_not_hdf5_slp(tmp_path):
    bad = tmp_path / "notes.slp"
    bad.write_text("these are not labels\n")
    _raises(bad, "not a readable HDF5/SLEAP file")


def test_slp_missing_video(fly, tmp_path):
    copy = tmp_path / "moved.slp"
    shutil.copy(fly / "clip.slp", copy)
    with h5py.File(copy, "r+") as f:
        del f["videos_json"]
        f["videos_json"] = [b'{"backend": {"filename": "/nonexistent/lab/videos/clip.mp4"}}']
    err = _raises(copy, "video '/nonexistent/lab/videos/clip.mp4' not found")
    assert str(tmp_path / "clip.mp4") in str(err)  # both places it looked
    assert read_sleap(copy, resolve_video=False).video == "/nonexistent/lab/videos/clip.mp4"
    (tmp_path / "clip.mp4").symlink_to(fly / "clip.mp4")  # the video beside the labels is used
    assert read_sleap(copy).video == str(tmp_path / "clip.mp4")


def test_slp_bad_video_index(fly):
    with pytest.raises(KeypointError, match="has 1 videos; no video index 3"):
        read_sleap(fly / "clip.slp", video=3)


def test_dlc_garbled_header(mouse, tmp_path):
    lines = (mouse / "CollectedData_Pranav.csv").read_text().splitlines()
    project = tmp_path / "labeled-data" / "m4s1"
    project.mkdir(parents=True)
    bad = project / "CollectedData_Pranav.csv"
    bad.write_text("\n".join([lines[0], lines[2], lines[1], *lines[3:]]) + "\n")  # rows swapped
    _raises(bad, "not a DeepLabCut label CSV")
    lines[2] = lines[2].replace(",y,", ",z,", 1)
    bad.write_text("\n".join(lines) + "\n")
    _raises(bad, r"unknown coords \['z'\]")
    lines[2] = "coords,x,y"  # a short row
    bad.write_text("\n".join(lines) + "\n")
    _raises(bad, "garbled header")


def test_dlc_images_missing(mouse, tmp_path):
    folder = tmp_path / "labeled-data" / "m4s1"
    folder.mkdir(parents=True)
    copy = folder / "CollectedData_Pranav.h5"
    shutil.copy(mouse / "CollectedData_Pranav.h5", copy)
    err = _raises(copy, "116 labelled images missing")
    assert "labeled-data/m4s1/img0000.png" in str(err) and str(tmp_path) in str(err)
    for i in range(116):  # with the images in place it reads
        _png(folder / f"img{i:04d}.png")
    assert len(read_keypoints(copy).table) == 116 * 4


def test_not_a_dlc_h5(fly, tmp_path):
    bad = tmp_path / "labeled-data" / "v" / "CollectedData_x.h5"
    bad.parent.mkdir(parents=True)
    shutil.copy(fly / "clip.slp", bad)  # HDF5, but no pandas table inside
    _raises(bad, "not a readable DeepLabCut .h5 label table")


def test_unknown_suffix_and_missing_file(tmp_path):
    odd = tmp_path / "labels.json"
    odd.write_text("{}")
    _raises(odd, "unknown keypoint file type '.json'")
    _raises(tmp_path / "absent.slp", "file not found")
    _raises(tmp_path / "absent.csv", "file not found")
