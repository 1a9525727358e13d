"""Working copies of videos (cut and shrunk) and keypoints moved into their coordinates."""

import cv2
import numpy as np
import pytest

from ethoflow.io import EthoflowError
from ethoflow.io import keypoints as K
from ethoflow.io import video as V


def test_prepare_cuts_and_shrinks_the_fly_clip(shared_data, tmp_path):
    src = shared_data / "sleap-fly-clip" / "clip.mp4"
    dest = tmp_path / "fly.mp4"
    info = V.prepare(src, dest, downscale=4, start=100, stop=130)
    assert info == {"frames": 30, "width": 256, "height": 256, "downscale": 4, "start": 100}
    meta = V.probe(dest)
    assert (meta["n_frames"], meta["width"], meta["height"]) == (30, 256, 256)
    assert meta["fps"] == pytest.approx(V.probe(src, count=False)["fps"])
    orig = V.read_frames(src, [100, 129])
    copy = V.read_frames(dest, [0, 29])
    for a, b in ((100, 0), (129, 29)):
        small = cv2.resize(orig[a], (256, 256), interpolation=cv2.INTER_AREA).astype(float)
        assert np.abs(small - copy[b]).mean() < 4  # the same picture, re-encoded
    # frame 0 of the copy is not frame 0 of the clip
    first = cv2.resize(V.read_frames(src, [0])[0], (256, 256), interpolation=cv2.INTER_AREA)
    assert (
        np.abs(first.astype(float) - copy[0]).mean()
        > np.abs(
            cv2.resize(orig[100], (256, 256), interpolation=cv2.INTER_AREA).astype(float) - copy[0]
        ).mean()
    )


def test_prepare_refuses_bad_ranges_and_leaves_nothing(shared_data, tmp_path):
    src = shared_data / "sleap-fly-clip" / "clip.mp4"
    for kw in ({"start": 50, "stop": 50}, {"start": 5000, "stop": 5010}, {"downscale": 0.5}):
        with pytest.raises(EthoflowError, match="clip.mp4|downscale"):
            V.prepare(src, tmp_path / "x.mp4", **kw)
        assert list(tmp_path.iterdir()) == []


def test_keypoints_follow_the_working_copy(shared_data):
    ks = K.read_keypoints(shared_data / "sleap-fly-clip" / "clip.slp")
    moved = K.transform(ks, downscale=4, clip=[100, 130])
    assert moved.frames == list(range(30))
    a = ks.table[(ks.table["frame"] == 110) & ks.table["visible"]].reset_index(drop=True)
    b = moved.table[(moved.table["frame"] == 10) & moved.table["visible"]].reset_index(drop=True)
    np.testing.assert_allclose(b["x"], (a["x"] + 0.5) / 4 - 0.5)
    np.testing.assert_allclose(b["y"], (a["y"] + 0.5) / 4 - 0.5)
    assert K.transform(ks) is ks
    with pytest.raises(K.KeypointError, match="no labelled frame"):
        K.transform(ks, clip=[5000, 5001])


def test_truth_and_compare_tables_score_sleap_like_the_issue_says(shared_data):
    """SLEAP's own tracker output on the clip, scored against the proofread labels at a 50 px
    gate: MOTA 0.908, IDF1 0.944, 16 ID switches (the figures the issue quotes)."""
    from ethoflow.evaluation.mot import evaluate_tracks

    d = shared_data / "sleap-fly-clip"
    ks = K.check_identities(K.read_keypoints(d / "clip.slp"), ["female", "male"])
    truth = K.truth_table(ks, "fly")
    assert len(truth) == 3000 and truth["mask"].isna().all()
    pred = K.compare_table(d / "clip.predictions.slp", "fly", "sleap")
    r = evaluate_tracks(pred, truth, match="centroid", gate=50.0)
    assert r["mota"] == pytest.approx(0.908, abs=5e-4)
    assert r["idf1"] == pytest.approx(0.944, abs=5e-4)
    assert r["id_switches"] == 16


def test_identities_must_be_configured(shared_data):
    ks = K.read_keypoints(shared_data / "sleap-fly-clip" / "clip.slp")
    with pytest.raises(K.KeypointError, match=r"clip\.slp.*\['female', 'male'\].*mouse1"):
        K.check_identities(ks, ["mouse1", "mouse2"])
    dlc = shared_data / "dlc-openfield-mouse" / "labeled-data" / "m4s1" / "CollectedData_Pranav.h5"
    one = K.resolve_images(K.check_identities(K.read_keypoints(dlc), ["mouse"]))
    assert one.identities == ["mouse"]
    assert all(p.startswith("/") and p.endswith(".png") for p in one.table["image"])
