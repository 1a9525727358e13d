"""Instance masks bootstrapped from keypoints: synthetic touching animals, the real SLEAP fly clip
and DeepLabCut mouse, and broken inputs (each a clear error, no output left behind)."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from ethoflow.io import EthoflowError
from ethoflow.io import keypoints as K
from ethoflow.io import video as V
from ethoflow.labels.annotations import load_labelme
from ethoflow.labels.bootstrap import bootstrap_video, instance_masks
from ethoflow.labels.frames import extract_frames

SETTINGS = {
    "frames": "extracted",
    "background_frames": 30,
    "diff_threshold": 25,
    "polarity": "auto",
    "min_area": 10,
    "seed_radius": 2,
    "dilate": 0,
    "max_area_factor": 4.0,
    "overlay_frames": 3,
}


def _iou(a, b) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_touching_animals_are_split_along_the_seam_between_them():
    """Two light ellipses on a dark floor, pressed together: one foreground blob. The watershed
    seeded at each animal's keypoints gives each its own body, with no overlap."""
    h, w = 96, 128
    img = np.full((h, w), 20, np.uint8)
    truth = {}
    for name, cx in (("a", 44), ("b", 80)):
        m = np.zeros((h, w), np.uint8)
        cv2.ellipse(m, (cx, 48), (19, 10), 0, 0, 360, 1, -1)
        truth[name] = m.astype(bool)
    img[truth["a"] | truth["b"]] = 200
    # the dark seam where the bodies meet
    seam = cv2.dilate(truth["a"].astype(np.uint8), np.ones((3, 3))) & truth["b"]
    img[seam.astype(bool)] = 120
    assert _label_count(truth["a"] | truth["b"]) == 1  # they do touch
    kps = {
        "a": np.array([[30, 48], [44, 48], [56, 48], [44, 42]], float),
        "b": np.array([[70, 48], [80, 48], [94, 48], [80, 54]], float),
    }
    bg = np.full((h, w), 20, np.uint8)
    masks, info = instance_masks(img, kps, background=bg, edges_idx=[(0, 1), (1, 2)], min_area=5)
    assert set(masks) == {"a", "b"}
    assert not (masks["a"] & masks["b"]).any()
    for name in ("a", "b"):
        assert _iou(masks[name], truth[name]) > 0.85, name
        assert "touching" in info[name]["flags"]
        assert info[name]["keypoints_inside"] == 1.0


def _label_count(mask) -> int:
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1


# ----------------------------------------------------------------------------- the fly clip


@pytest.fixture(scope="module")
def fly_copy(shared_data, tmp_path_factory):
    """The first 200 frames of the fly clip at 256 px, its keypoints, 8 extracted frames."""
    d = shared_data / "sleap-fly-clip"
    w = tmp_path_factory.mktemp("fly")
    V.prepare(d / "clip.mp4", w / "fly.mp4", downscale=4, start=0, stop=200)
    ks = K.check_identities(K.read_keypoints(d / "clip.slp"), ["female", "male"])
    K.write_keypoints(K.transform(ks, downscale=4, clip=[0, 200]), w / "kp.parquet")
    extract_frames(w / "fly.mp4", w / "frames", "fly", 8, "kmeans", 0)
    return w


def test_fly_masks_cover_their_keypoints_and_load_as_labels(fly_copy):
    w = fly_copy
    out = w / "boot"
    table = bootstrap_video(
        w / "fly.mp4", w / "kp.parquet", w / "frames", out, video="fly", settings=SETTINGS
    )
    names = sorted(p.stem for p in (w / "frames").glob("*.png"))
    assert sorted(table["name"].unique()) == names
    assert len(table) == 2 * len(names)
    assert (table["area"] > 0).all()
    # a fly at 256 px is ~25 x 12 px: hundreds of pixels, never a speck or the whole arena
    assert table["area"].between(100, 800).all(), table
    assert table["keypoints_inside"].mean() > 0.95
    assert pd.read_csv(out / "bootstrap.csv").shape == table.shape
    assert len(list((out / "overlays").glob("*.png"))) == SETTINGS["overlay_frames"]
    for name in names:
        lf = load_labelme(out / f"{name}.json", ["female", "male"])
        assert lf.video == "fly" and lf.image.shape == (256, 256, 3)
        assert sorted(i for i, _ in lf.instances) == ["female", "male"]


def test_extracted_frames_without_keypoints_are_an_error(fly_copy, tmp_path):
    w = fly_copy
    ks = K.load_keypoints(w / "kp.parquet")
    keep = ks.table[ks.table["frame"] >= 150]  # none of the picked frames is labelled
    picked = [int(p.stem.split("_")[-1]) for p in (w / "frames").glob("*.png")]
    keep = keep[~keep["frame"].isin(picked)]
    K.write_keypoints(K.KeypointSet(**{**ks.__dict__, "table": keep}), tmp_path / "kp.parquet")
    with pytest.raises(EthoflowError, match="none of the 8 frames extracted"):
        bootstrap_video(
            w / "fly.mp4",
            tmp_path / "kp.parquet",
            w / "frames",
            tmp_path / "out",
            video="fly",
            settings=SETTINGS,
        )
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("broken", ["keypoints", "video", "frames_json"])
def test_broken_inputs_name_the_file_and_leave_no_output(fly_copy, tmp_path, broken):
    w = fly_copy
    paths = {"video": w / "fly.mp4", "keypoints": w / "kp.parquet", "frames": w / "frames"}
    if broken == "keypoints":
        data = paths["keypoints"].read_bytes()
        paths["keypoints"] = tmp_path / "kp.parquet"
        paths["keypoints"].write_bytes(data[: len(data) // 2])
        bad = paths["keypoints"]
    elif broken == "video":
        data = paths["video"].read_bytes()
        paths["video"] = tmp_path / "fly.mp4"
        paths["video"].write_bytes(data[:2000])
        bad = paths["video"]
    else:
        shutil.copytree(w / "frames", tmp_path / "frames")
        (tmp_path / "frames" / "frames.json").write_text("{not json")
        paths["frames"] = tmp_path / "frames"
        bad = paths["frames"] / "frames.json"
    with pytest.raises(EthoflowError, match=str(bad).replace(".", r"\.")):
        bootstrap_video(
            paths["video"],
            paths["keypoints"],
            paths["frames"],
            tmp_path / "out",
            video="fly",
            settings=SETTINGS,
        )
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.glob(".out.*"))


# -------------------------------------------------------------------- the DeepLabCut mouse


@pytest.fixture(scope="module")
def mouse_project(shared_data, tmp_path_factory) -> Path:
    """A copy of the DeepLabCut project's labelled images and labels (to break one image)."""
    src = shared_data / "dlc-openfield-mouse"
    root = tmp_path_factory.mktemp("dlc")
    shutil.copytree(src / "labeled-data", root / "labeled-data")
    return root


def _dlc_keypoints(project: Path, dest: Path) -> Path:
    h5 = project / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    ks = K.resolve_images(K.check_identities(K.read_keypoints(h5), ["mouse"]))
    K.write_keypoints(ks, dest)
    return dest


def test_dlc_labelled_images_give_one_stable_mask_per_image(mouse_project, tmp_path):
    kp = _dlc_keypoints(mouse_project, tmp_path / "kp.parquet")
    settings = dict(SETTINGS, frames="labelled", diff_threshold=50, min_area=100)
    table = bootstrap_video(
        "unused.mp4", kp, tmp_path / "no-frames", tmp_path / "out", video="openfield",
        settings=settings,
    )  # fmt: skip
    assert len(table) == 116 and set(table["identity"]) == {"mouse"}
    assert table["name"].str.startswith("openfield_image-img").all()
    assert (table["area"] > 0).mean() == 1.0
    assert table["keypoints_inside"].mean() > 0.95
    # one mouse, one camera: its mask area varies little from image to image
    assert table["area"].std() / table["area"].mean() < 0.35, table["area"].describe()
    lf = load_labelme(tmp_path / "out" / f"{table['name'].iloc[0]}.json", ["mouse"])
    assert lf.frame == -1 and lf.image.shape == (480, 640, 3)


def test_dlc_corrupt_labelled_image_is_named(mouse_project, tmp_path):
    project = tmp_path / "project"
    shutil.copytree(mouse_project, project)
    img = project / "labeled-data" / "m4s1" / "img0042.png"
    img.write_bytes(img.read_bytes()[:100])
    kp = _dlc_keypoints(project, tmp_path / "kp.parquet")
    with pytest.raises(EthoflowError, match="img0042.png: labelled image cannot be read"):
        bootstrap_video(
            "unused.mp4", kp, tmp_path / "no-frames", tmp_path / "out", video="openfield",
            settings=dict(SETTINGS, frames="labelled"),
        )  # fmt: skip
    assert not (tmp_path / "out").exists()


def test_dlc_images_cannot_bootstrap_extracted_frames(mouse_project, tmp_path):
    kp = _dlc_keypoints(mouse_project, tmp_path / "kp.parquet")
    with pytest.raises(EthoflowError, match="set bootstrap.frames: labelled"):
        bootstrap_video(
            "unused.mp4", kp, tmp_path / "frames", tmp_path / "out", video="openfield",
            settings=SETTINGS,
        )  # fmt: skip
