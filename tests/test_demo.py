"""Synthetic demo data: determinism, ground truth, video metadata, LabelMe labels, atomicity."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from ethoflow.demo import make as demo
from ethoflow.demo import scene
from ethoflow.io import EthoflowError, labelme
from ethoflow.io import masks as M
from ethoflow.io import tracktable as T
from ethoflow.io import video as V

IDS = ("mouse1", "mouse2", "mouse3")


def _make(root: Path, **kw) -> tuple[dict, dict]:
    root.mkdir(parents=True, exist_ok=True)
    paths = dict(
        video_path=root / "demo.mp4",
        truth_path=root / "truth.parquet",
        labels_dir=root / "labels",
    )
    kw.setdefault("name", "demo")
    kw.setdefault("seed", 7)
    summary = demo.make_demo_video(**paths, **kw)
    return paths, summary


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """A short, small video with a few labelled frames."""
    return _make(tmp_path_factory.mktemp("small"), n_frames=60, size=128, n_labelled=6)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """A default-length, default-size video (300 frames, 256x256)."""
    return _make(tmp_path_factory.mktemp("full"), name="demo1", seed=1, n_labelled=12)


def _labels(labels_dir: Path) -> dict[str, str]:
    return {p.name: p.read_text() for p in sorted(labels_dir.glob("*.json"))}


def _check_truth(df: pd.DataFrame, n_frames: int, size: int, fps: float, name: str) -> None:
    assert list(df.columns) == T.COLUMNS
    assert len(df) == n_frames * len(IDS)
    assert (df["source"] == "truth").all() and (df["model"] == "truth").all()
    assert (df["video"] == name).all() and (df["score"] == 1.0).all()
    np.testing.assert_allclose(df["time_s"], df["frame"] / fps)
    # every identity exactly once in every frame
    counts = df.groupby(["frame", "identity"]).size().unstack(fill_value=0)
    assert list(counts.index) == list(range(n_frames))
    assert list(counts.columns) == list(IDS)
    assert (counts == 1).all().all()
    assert (df["area"] > 0).all()
    # visible masks are disjoint, non-empty and agree with the geometry columns
    for _, g in df.groupby("frame"):
        ms = [M.decode(r) for r in g["mask"]]
        assert all(m.shape == (size, size) and m.any() for m in ms)
        assert int(np.sum(ms, axis=0).max()) == 1
    for _, r in df.iloc[:: max(1, len(df) // 30)].iterrows():
        geo = T.row_from_mask(r["mask"])
        assert geo["area"] == r["area"] and geo["x1"] == r["x1"] and geo["cy"] == r["cy"]
    # at least 40% of each body stays visible: compare with the largest area that identity has
    area = df.pivot(index="frame", columns="identity", values="area")
    assert (area / area.max()).min().min() >= scene.MIN_VISIBLE


def test_deterministic(small, tmp_path):
    (paths, summary) = small
    paths2, summary2 = _make(tmp_path / "again", n_frames=60, size=128, n_labelled=6)
    assert summary == summary2
    pd.testing.assert_frame_equal(T.read(paths["truth_path"]), T.read(paths2["truth_path"]))
    labels, labels2 = _labels(paths["labels_dir"]), _labels(paths2["labels_dir"])
    assert labels and labels == labels2
    # another seed is another video
    paths3, _ = _make(tmp_path / "other", seed=8, n_frames=60, size=128, n_labelled=0)
    a, b = T.read(paths["truth_path"]), T.read(paths3["truth_path"])
    assert not np.allclose(a["cx"], b["cx"])


def test_truth_small(small):
    paths, summary = small
    _check_truth(T.read(paths["truth_path"]), 60, 128, 30.0, "demo")
    assert summary["min_visible_fraction"] >= scene.MIN_VISIBLE
    assert summary["n_frames"] == 60 and summary["identities"] == list(IDS)


def test_truth_full_and_touching(full):
    paths, summary = full
    df = T.read(paths["truth_path"])
    _check_truth(df, 300, 256, 30.0, "demo1")
    touching = T.touching_frames(df)
    assert summary["n_touching_frames"] == len(touching)
    assert 10 <= len(touching) < 300
    # several separate encounters, and real occlusion in some frames
    starts = [f for f in sorted(touching) if f - 1 not in touching]
    assert len(starts) >= 2
    area = df.pivot(index="frame", columns="identity", values="area")
    occluded = ((area / area.max()) < 0.85).any(axis=1)
    assert occluded.sum() >= 3


def test_touching_frames_unit():
    def row(frame, identity, mask):
        return dict(frame=frame, identity=identity, mask=M.encode(mask))

    a = np.zeros((20, 20), bool)
    a[2:6, 2:6] = True
    near = np.zeros((20, 20), bool)
    near[2:6, 8:12] = True  # two pixels gap
    far = np.zeros((20, 20), bool)
    far[14:18, 14:18] = True
    df = pd.DataFrame(
        [row(0, "a", a), row(0, "b", near), row(1, "a", a), row(1, "b", far), row(2, "a", a)]
    )
    assert T.touching_frames(df) == {0}
    assert T.touching_frames(df, dilate=0) == set()


@pytest.mark.parametrize("fixture", ["small", "full"])
def test_probe(fixture, request):
    paths, summary = request.getfixturevalue(fixture)
    info = V.probe(paths["video_path"])
    assert info["n_frames"] == summary["n_frames"]
    assert info["width"] == info["height"] == summary["size"]
    assert info["fps"] == pytest.approx(30.0)


@pytest.mark.parametrize("fixture", ["small", "full"])
def test_labels(fixture, request):
    paths, summary = request.getfixturevalue(fixture)
    labels_dir = paths["labels_dir"]
    n_wanted = 6 if fixture == "small" else 12
    jsons = sorted(labels_dir.glob("*.json"))
    assert len(jsons) == len(summary["labelled_frames"]) == n_wanted
    assert len(list(labels_dir.glob("*.png"))) == n_wanted
    frames = V.read_frames(paths["video_path"], summary["labelled_frames"])
    name = summary["name"]
    for f in summary["labelled_frames"]:
        stem = f"{name}_{f:06d}"
        doc = json.loads((labels_dir / f"{stem}.json").read_text())
        assert doc["version"] == "5.4.1" and doc["flags"] == {} and doc["imageData"] is None
        assert doc["imagePath"] == f"{stem}.png"
        img = np.asarray(Image.open(labels_dir / doc["imagePath"]))
        assert img.shape == (doc["imageHeight"], doc["imageWidth"], 3)
        assert (doc["imageHeight"], doc["imageWidth"]) == (summary["size"], summary["size"])
        np.testing.assert_array_equal(img, frames[f])  # the decoded frame, pixel for pixel
        assert {s["label"] for s in doc["shapes"]} == set(IDS)
        for s in doc["shapes"]:
            assert s["shape_type"] == "polygon" and s["description"] == "" and s["mask"] is None
            assert len(s["points"]) >= 3 and all(len(p) == 2 for p in s["points"])
            assert all(0 <= x <= doc["imageWidth"] for x, _ in s["points"])
        for identity in IDS:
            gids = [s["group_id"] for s in doc["shapes"] if s["label"] == identity]
            if len(gids) == 1:
                assert gids == [None]
            else:
                assert isinstance(gids[0], int) and len(set(gids)) == 1


def test_label_polygons_match_truth(full):
    paths, summary = full
    truth = T.read(paths["truth_path"]).set_index(["frame", "identity"])
    size = summary["size"]
    for f in summary["labelled_frames"]:
        doc = json.loads((paths["labels_dir"] / f"{summary['name']}_{f:06d}.json").read_text())
        for identity in IDS:
            polys = [
                [c for p in s["points"] for c in p] for s in doc["shapes"] if s["label"] == identity
            ]
            rle = M.from_polygons(polys, size, size)
            iou = M.iou_matrix([rle], [truth.loc[(f, identity), "mask"]])[0, 0]
            assert iou >= 0.85, (f, identity, iou)


def test_labelme_shapes_split_mask():
    m = np.zeros((40, 40), bool)
    m[5:15, 5:15] = True
    m[25:35, 20:30] = True
    one = np.zeros((40, 40), bool)
    one[20:30, 2:12] = True
    shapes = labelme.labelme_shapes([("a", m), ("b", one)], group_ids=[1, 2])
    assert [s["label"] for s in shapes] == ["a", "a", "b"]
    assert [s["group_id"] for s in shapes] == [1, 1, None]
    for s in shapes:
        rle = M.from_polygons([[c for p in s["points"] for c in p]], 40, 40)
        assert M.area(rle) == 100


def test_no_labels(tmp_path):
    paths, summary = _make(tmp_path, n_frames=12, size=64, n_labelled=0)
    assert paths["labels_dir"].is_dir() and not any(paths["labels_dir"].iterdir())
    assert summary["labelled_frames"] == []
    assert paths["video_path"].exists() and paths["truth_path"].exists()


def test_four_identities_and_progress(tmp_path):
    ids = ("a", "b", "c", "d")
    log = io.StringIO()
    paths, summary = _make(
        tmp_path, n_frames=20, size=128, identities=ids, n_labelled=2, progress=log
    )
    df = T.read(paths["truth_path"])
    assert sorted(df["identity"].unique()) == list(ids)
    assert (df.groupby("frame").size() == 4).all()
    assert summary["min_visible_fraction"] >= scene.MIN_VISIBLE
    assert "render demo" in log.getvalue()


def test_failure_leaves_nothing(tmp_path, monkeypatch):
    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(demo, "select_frames", boom)
    with pytest.raises(RuntimeError, match="boom"):
        _make(tmp_path / "out", n_frames=5, size=64, n_labelled=2)
    assert list((tmp_path / "out").iterdir()) == []


def test_failure_keeps_old_outputs(tmp_path, monkeypatch):
    paths, _ = _make(tmp_path, n_frames=5, size=64, n_labelled=1)
    before = {p: p.stat().st_mtime_ns for p in paths.values()}
    labels_before = _labels(paths["labels_dir"])

    def boom(*a, **k):
        raise RuntimeError("boom")

    monkeypatch.setattr(labelme, "labelme_shapes", boom)
    with pytest.raises(RuntimeError):
        _make(tmp_path, seed=99, n_frames=5, size=64, n_labelled=1)
    assert {p: p.stat().st_mtime_ns for p in paths.values()} == before
    assert _labels(paths["labels_dir"]) == labels_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["demo.mp4", "labels", "truth.parquet"]


@pytest.mark.parametrize(
    "kw",
    [
        dict(identities=("a", "b", "c", "d", "e")),
        dict(identities=("a", "a")),
        dict(identities=()),
        dict(size=32),
        dict(n_frames=0),
        dict(n_labelled=-1),
    ],
)
def test_bad_arguments(tmp_path, kw):
    with pytest.raises(EthoflowError):
        _make(tmp_path, **kw)
    assert not any(tmp_path.iterdir())


def test_behaviour_truth_is_the_scene_state_machine(tmp_path):
    """The generator writes what it meant each animal to do as a BORIS file: bouts tile every
    animal's frames, social bouts name a partner, and the motion agrees with the intent."""
    from ethoflow.io.boris import read_boris

    paths, summary = _make(
        tmp_path / "beh",
        name="beh",
        seed=11,
        n_frames=300,
        size=256,
        n_labelled=0,
        behaviour_path=tmp_path / "beh" / "beh.tsv",
    )
    bouts = read_boris(tmp_path / "beh" / "beh.tsv")
    assert set(bouts["type"]) <= set(scene.BEHAVIOURS)
    assert {"explore", "approach", "investigate"} <= set(bouts["type"])
    assert sum(summary["behaviour_bouts"].values()) == len(bouts)
    truth = T.read(paths["truth_path"])
    fps = 30.0
    for _animal, g in bouts.groupby("subject"):
        g = g.sort_values("start_s")
        # consecutive, no gaps, no overlaps, the whole video
        np.testing.assert_allclose(g["start_s"].to_numpy()[1:], g["stop_s"].to_numpy()[:-1])
        assert g["start_s"].iloc[0] == 0 and abs(g["stop_s"].iloc[-1] - 300 / fps) < 1e-6
    # animals at rest stand still; explorers move
    speed = {}
    for animal, t in truth.sort_values("frame").groupby("identity"):
        step = np.hypot(np.diff(t["cx"].to_numpy()), np.diff(t["cy"].to_numpy()))
        speed[animal] = np.r_[step, step[-1]]
    moving = {"rest": [], "explore": []}
    for _, b in bouts[bouts["type"].isin(list(moving))].iterrows():
        a, z = int(round(b["start_s"] * fps)) + 10, int(round(b["stop_s"] * fps))
        if z > a:
            moving[b["type"]].append(speed[b["subject"]][a:z].mean())
    # (a resting animal can be pushed by one walking over it: compare the means)
    if moving["rest"]:
        assert np.mean(moving["rest"]) < 0.3 * np.mean(moving["explore"])
    # an investigation starts where the animal reaches (touches) its partner
    touch = T.touching_frames(truth)
    inv = bouts[bouts["type"] == "investigate"]
    assert len(inv)
    for _, b in inv.iterrows():
        start = int(round(b["start_s"] * fps))
        assert start in touch or start - 1 in touch
