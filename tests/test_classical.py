"""The classical baseline tracker: synthetic disks with exact truth, bad input, the fly clip."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from ethoflow.io import EthoflowError
from ethoflow.io import masks as M
from ethoflow.io.tracktable import COLUMNS
from ethoflow.io.video import VideoWriter, prepare
from ethoflow.tracking.classical import OUTPUT_COLUMNS, link, track_video

W, H = 192, 128
BIG, SMALL = 10.0, 6.0  # disk radii


def _write_disks(path, centres, radii, seed=0, speck_from=None):
    """A video of bright disks (``centres[t]``: one ``(x, y)`` per disk, pixel-centre
    coordinates) on a dark floor with fixed texture and per-frame noise; from frame
    ``speck_from`` on, a small bright speck (debris: not in the background) lies in a corner."""
    rng = np.random.default_rng(seed)
    floor = 25 + rng.normal(0, 5, (H, W))
    yy, xx = np.mgrid[0:H, 0:W]
    with VideoWriter(path, 25, W, H) as out:
        for t, frame in enumerate(centres):
            img = floor + rng.normal(0, 2, (H, W))
            for (x, y), r in zip(frame, radii, strict=True):
                img[(xx - x) ** 2 + (yy - y) ** 2 <= r * r] = 200
            if speck_from is not None and t >= speck_from:
                img[(xx - 20) ** 2 + (yy - 110) ** 2 <= 16] = 200  # 49 px >= min_area
            out.write(np.clip(img, 0, 255).astype(np.uint8))


def _check_table(df: pd.DataFrame) -> None:
    assert list(df.columns) == OUTPUT_COLUMNS
    assert set(OUTPUT_COLUMNS) | {"video", "model", "time_s"} == set(COLUMNS)
    assert not df.duplicated(["frame", "identity"]).any()
    assert (df["source"] == "detected").all() and (df["score"] == 1.0).all()
    for row in df.head(5).itertuples():
        m = M.decode(row.mask)
        assert m.shape == (H, W) and int(m.sum()) == row.area


def test_disks_moving_apart(tmp_path):
    n = 30
    truth = {
        "big": [(100 - 2 * t, 64 + 10 * np.sin(t / 5)) for t in range(n)],
        "small": [(128 + 1.5 * t, 60 - 0.5 * t) for t in range(n)],
    }
    path = tmp_path / "apart.mp4"
    _write_disks(path, list(zip(truth["big"], truth["small"])), [BIG, SMALL], speck_from=20)
    bar = io.StringIO()
    df = track_video(path, ["big", "small"], progress=bar)
    _check_table(df)
    assert "classical" in bar.getvalue()
    assert len(df) == 2 * n and set(df["frame"]) == set(range(n))
    for ident, xy in truth.items():
        got = df[df["identity"] == ident].sort_values("frame")
        want = np.asarray(xy) + 0.5  # track-table coordinates: pixel i spans [i, i + 1)
        err = np.hypot(got["cx"] - want[:, 0], got["cy"] - want[:, 1])
        assert err.max() < 1.0, (ident, err.max())
    areas = df.groupby("identity")["area"].median()
    assert areas["big"] == pytest.approx(np.pi * BIG**2, rel=0.1)
    assert areas["small"] == pytest.approx(np.pi * SMALL**2, rel=0.15)


def test_disks_merge_and_part(tmp_path):
    """The disks meet (one blob: the baseline keeps one identity), stay merged, part again."""
    n = 44
    m = [min(t, 19, n - 1 - t) for t in range(n)]  # approach, dwell, go back
    big = [(17 + 4 * k, 64) for k in m]
    small = [(175 - 4 * k, 64) for k in m]  # centre distance 158 - 8 m: merged for m >= 18
    path = tmp_path / "merge.mp4"
    _write_disks(path, list(zip(big, small)), [BIG, SMALL], seed=1)
    df = track_video(path, ["big", "small"], polarity="light")
    _check_table(df)
    per_frame = df.groupby("frame")["identity"].apply(set).reindex(range(n))
    merged = [t for t in range(n) if m[t] >= 18]
    assert merged == list(range(18, 26))
    for t in range(n):
        if t in merged:
            assert isinstance(per_frame[t], set) and len(per_frame[t]) == 1, (t, per_frame[t])
        else:
            assert per_frame[t] == {"big", "small"}, (t, per_frame[t])
    xy = df.set_index(["frame", "identity"])["cx"]
    for t in range(n):
        if t not in merged:
            assert abs(xy[(t, "big")] - (big[t][0] + 0.5)) < 1.0
            assert abs(xy[(t, "small")] - (small[t][0] + 0.5)) < 1.0


def test_empty_video_and_link(tmp_path):
    path = tmp_path / "empty.mp4"
    _write_disks(path, [[] for _ in range(8)], [])
    df = track_video(path, ["a", "b"])
    assert df.empty and list(df.columns) == OUTPUT_COLUMNS
    # The gate grows with the frames since an identity was last seen; unseen ones take leftovers.
    last = np.array([[10.0, 10.0], [np.nan, np.nan]])
    seen = np.array([5, 0])
    cents = np.array([[40.0, 10.0], [12.0, 10.0]])
    assert link(cents, last, seen, 6, 20.0) == {0: 1, 1: 0}
    assert link(cents[:1], last, seen, 6, 20.0) == {1: 0}
    assert link(cents[:1], last, seen, 7, 20.0) == {0: 0}


def test_bad_input(tmp_path):
    missing = tmp_path / "nope.mp4"
    with pytest.raises(EthoflowError, match="nope.mp4"):
        track_video(missing, ["a"])
    corrupt = tmp_path / "x.mp4"
    corrupt.write_bytes(np.random.default_rng(0).bytes(64))
    with pytest.raises(EthoflowError, match="x.mp4"):
        track_video(corrupt, ["a"])
    with pytest.raises(EthoflowError, match="identity"):
        track_video(missing, [])
    with pytest.raises(EthoflowError, match="more than once"):
        track_video(missing, ["a", "b", "a"])
    with pytest.raises(EthoflowError, match="background_frames"):
        track_video(missing, ["a"], background_frames=0)
    with pytest.raises(EthoflowError, match="polarity"):
        track_video(missing, ["a"], polarity="grey")


def test_sleap_fly_clip(shared_data, tmp_path):
    """Both flies sit still through frames 0-300: no temporal background model sees the floor
    under them; the still-animal fill must find them."""
    from ethoflow.evaluation.video import evaluate_video
    from ethoflow.io import keypoints as K

    d = shared_data / "sleap-fly-clip"
    work = tmp_path / "fly.mp4"
    prepare(d / "clip.mp4", work, downscale=4, start=0, stop=300)
    ks = K.check_identities(K.read_keypoints(d / "clip.slp"), ["female", "male"])
    truth = K.truth_table(K.transform(ks, downscale=4, clip=[0, 300]), video="fly")
    pred = track_video(work, ["female", "male"], max_distance=50 / 4)
    pred["video"], pred["model"], pred["time_s"] = "fly", "classical", pred["frame"] / 25
    r = evaluate_video(pred, truth, labelled_frames=[], match="centroid", gate=50 / 4)
    assert r["mota"] >= 0.99, r
    assert r["idf1"] >= 0.99, r
    assert r["identity_accuracy"] >= 0.99, r
    assert r["id_switches"] == 0, r
