"""Direct tests of ethoflow.io.video: probe, seeking decode, atomic writer, prepare."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from ethoflow.io.files import EthoflowError
from ethoflow.io.video import (
    VideoWriter,
    iter_frames,
    prepare,
    probe,
    read_frames,
    scaled_size,
)

N, W, H = 75, 64, 48


def pattern(i: int, h: int = H, w: int = W) -> np.ndarray:
    """Frame ``i``: a drifting colour ramp and a white square that moves with ``i``."""
    yy, xx = np.mgrid[0:h, 0:w]
    f = np.zeros((h, w, 3), np.uint8)
    f[..., 0] = (xx * 3 + i * 3) % 256
    f[..., 1] = (yy * 5) % 256
    f[..., 2] = 40
    x0 = (i * 2) % (w - 8)
    f[10:18, x0 : x0 + 8] = 255
    return f


def _write(path, n=N, fps=24.0, w=W, h=H):
    with VideoWriter(path, fps, w, h) as out:
        for i in range(n):
            out.write(pattern(i, h, w))
    return path


def _key_frames(path) -> list[int]:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        pkts = sorted((p for p in c.demux(stream) if p.pts is not None), key=lambda p: p.pts)
        return [i for i, p in enumerate(pkts) if p.is_keyframe]


@pytest.fixture(scope="module", params=[24.0, 30000 / 1001], ids=["24fps", "29.97fps"])
def video(request, tmp_path_factory):
    fps = request.param
    path = _write(tmp_path_factory.mktemp("video") / "clip.mp4", fps=fps)
    full = list(iter_frames(path))
    return path, fps, full


def test_probe(video):
    path, fps, _ = video
    info = probe(path)
    assert info["n_frames"] == N
    assert (info["width"], info["height"]) == (W, H)
    assert info["fps"] == pytest.approx(fps, rel=1e-6)
    assert Fraction(*info["fps_fraction"]) == Fraction(fps).limit_denominator(1001)
    assert info["duration_s"] == pytest.approx(N / fps, rel=1e-6)
    assert info["path"] == str(path)
    quick = probe(path, count=False)
    assert quick["n_frames"] == N  # the mp4 header declares the frame count


def test_full_decode_is_the_written_frames(video):
    _, _, full = video
    assert [i for i, _ in full] == list(range(N))
    for i, f in full:
        assert f.shape == (H, W, 3) and f.dtype == np.uint8
        # lossy, but frame i is closest to what was written as frame i
        errs = [np.abs(f.astype(int) - pattern(j)).mean() for j in range(max(0, i - 3), i + 4)]
        assert int(np.argmin(errs)) == min(i, 3)
        assert np.abs(f.astype(int) - pattern(i)).mean() < 8


def test_seek_gives_identical_frames(video):
    path, _, full = video
    keys = _key_frames(path)
    assert len(keys) >= 2, "the clip should have key frames after frame 0 so seeking matters"
    starts = {1, 2, 5, 23, 29, 30, 31, 45, 60, N - 2, N - 1}
    starts |= {k + d for k in keys for d in (-1, 0, 1) if 0 < k + d < N}
    for start in sorted(starts):
        stop = min(start + 6, N)
        got = list(iter_frames(path, start, stop))
        assert [i for i, _ in got] == list(range(start, stop)), f"start {start}"
        for i, f in got:
            np.testing.assert_array_equal(f, full[i][1], err_msg=f"frame {i} from start {start}")


def test_iter_frames_open_ended_and_past_the_end(video):
    path, _, full = video
    tail = list(iter_frames(path, 50))
    assert [i for i, _ in tail] == list(range(50, N))
    np.testing.assert_array_equal(tail[-1][1], full[-1][1])
    assert [i for i, _ in iter_frames(path, 40, 1000)] == list(range(40, N))
    assert list(iter_frames(path, N + 10, N + 20)) == []


def test_iter_frames_gray(video):
    path, _, full = video
    got = dict(iter_frames(path, 30, 33, gray=True))
    assert sorted(got) == [30, 31, 32]
    for i, g in got.items():
        assert g.shape == (H, W) and g.dtype == np.uint8
        luma = full[i][1].astype(float) @ [0.299, 0.587, 0.114]
        assert np.abs(g - luma).mean() < 6


def test_read_frames_subset(video):
    path, _, full = video
    got = read_frames(path, [47, 3, 0, 3, 74])
    assert sorted(got) == [0, 3, 47, 74]
    for i, f in got.items():
        np.testing.assert_array_equal(f, full[i][1])
    assert read_frames(path, []) == {}


def test_read_frames_beyond_the_end(video):
    path, _, _ = video
    with pytest.raises(EthoflowError, match="beyond the end") as e:
        read_frames(path, [2, N, N + 5])
    assert str(path) in str(e.value)
    assert str(N) in str(e.value)


def test_missing_and_garbage_files(tmp_path):
    missing = tmp_path / "nope.mp4"
    for fn in (probe, lambda p: list(iter_frames(p)), lambda p: read_frames(p, [0])):
        with pytest.raises(EthoflowError) as e:
            fn(missing)
        assert str(missing) in str(e.value)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    for fn in (probe, lambda p: list(iter_frames(p)), lambda p: read_frames(p, [0])):
        with pytest.raises(EthoflowError) as e:
            fn(garbage)
        assert str(garbage) in str(e.value)
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(EthoflowError) as e:
        probe(text)
    assert str(text) in str(e.value)


def test_truncated_file(tmp_path):
    path = _write(tmp_path / "full.mp4", n=40)
    cut = tmp_path / "cut.mp4"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EthoflowError) as e:
        probe(cut)
    assert str(cut) in str(e.value)


def test_video_writer_is_atomic(tmp_path):
    dest = tmp_path / "out" / "v.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(dest, 25, W, H) as w:
            for i in range(5):
                w.write(pattern(i))
            assert not dest.exists()
            raise RuntimeError("boom")
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []

    with VideoWriter(dest, 25, W, H) as w:
        for i in range(5):
            w.write(pattern(i))
        assert not dest.exists()  # only a temporary file beside it while writing
    assert [p.name for p in dest.parent.iterdir()] == ["v.mp4"]
    assert probe(dest)["n_frames"] == 5


def test_video_writer_abort_and_grey_frames(tmp_path):
    dest = tmp_path / "g.mp4"
    w = VideoWriter(dest, 10, 32, 16)
    w.write(np.full((16, 32), 200, np.uint8))
    w.abort()
    assert not dest.exists() and list(tmp_path.iterdir()) == []
    with VideoWriter(dest, 10, 32, 16) as w:
        for v in (50, 200):
            w.write(np.full((16, 32), v, np.uint8))
    frames = [f for _, f in iter_frames(dest)]
    assert len(frames) == 2 and frames[0].shape == (16, 32, 3)
    assert abs(frames[0].mean() - 50) < 4 and abs(frames[1].mean() - 200) < 4


def test_scaled_size():
    assert scaled_size(1024, 1024, 4) == (256, 256)
    assert scaled_size(W, H, 1) == (W, H)
    assert scaled_size(W, H, 2) == (32, 24)
    assert scaled_size(64, 48, 3) == (22, 16)
    assert scaled_size(3, 3, 10) == (2, 2)
    for w, h, d in [(101, 51, 1), (640, 480, 3), (1920, 1080, 7), (333, 777, 2.5), (7, 9, 1.3)]:
        sw, sh = scaled_size(w, h, d)
        assert sw % 2 == 0 and sh % 2 == 0
        assert abs(sw - w / d) <= 1 and abs(sh - h / d) <= 1
    for bad in (0.5, 0.999, 0, -2, float("nan")):
        with pytest.raises(EthoflowError, match="downscale"):
            scaled_size(W, H, bad)


def test_prepare_downscale_and_range(video, tmp_path):
    src, fps, full = video
    dest = tmp_path / "prep.mp4"
    info = prepare(src, dest, downscale=2, start=10, stop=30)
    assert info == {"frames": 20, "width": 32, "height": 24, "downscale": 2, "start": 10}
    p = probe(dest)
    assert p["n_frames"] == 20
    assert (p["width"], p["height"]) == (32, 24)
    assert p["fps"] == pytest.approx(fps, rel=1e-6)
    out = [f for _, f in iter_frames(dest)]
    # frame 0 of the copy is source frame 10, shrunk
    for k in (0, 7, 19):
        ref = full[10 + k][1].astype(float).reshape(24, 2, 32, 2, 3).mean(axis=(1, 3))
        errs = [
            np.abs(out[k] - full[j][1].astype(float).reshape(24, 2, 32, 2, 3).mean(axis=(1, 3)))
            for j in (9 + k, 10 + k, 11 + k)
        ]
        assert int(np.argmin([e.mean() for e in errs])) == 1
        assert np.abs(out[k] - ref).mean() < 10
    assert [p.name for p in tmp_path.iterdir()] == ["prep.mp4"]


def test_prepare_open_ended_and_empty_ranges(video, tmp_path):
    src, _, _ = video
    info = prepare(src, tmp_path / "tail.mp4", start=60)
    assert info["frames"] == N - 60
    assert (info["width"], info["height"]) == (W, H)
    assert probe(tmp_path / "tail.mp4")["n_frames"] == N - 60
    with pytest.raises(EthoflowError):
        prepare(src, tmp_path / "e1.mp4", start=10, stop=10)
    with pytest.raises(EthoflowError):
        prepare(src, tmp_path / "e2.mp4", start=-1)
    with pytest.raises(EthoflowError, match="no frames"):
        prepare(src, tmp_path / "e3.mp4", start=N + 5)
    assert not any(p.name.startswith(("e1", "e2", "e3", ".e")) for p in tmp_path.iterdir())
