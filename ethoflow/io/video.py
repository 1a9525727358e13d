"""Video probing, streaming decode and encode (FFmpeg through PyAV).

Decoding streams frames one at a time, so memory stays flat in video length. Frame ``i`` is the
``i``-th decoded frame in presentation order; ``iter_frames(path, start, stop)`` seeks to the
nearest key frame before ``start`` and decodes forward, so a frame range yields the same pixels as
a decode from the beginning.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Iterable, Iterator
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from ethoflow.io.files import EthoflowError, atomic_path

log = logging.getLogger(__name__)


def _open(path: str | os.PathLike):
    path = Path(path)
    if not path.exists():
        raise EthoflowError(f"{path}: video file not found")
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as e:
        raise EthoflowError(f"{path}: cannot open video ({e})") from None
    if not container.streams.video:
        container.close()
        raise EthoflowError(f"{path}: contains no video stream")
    return container


def probe(path: str | os.PathLike, count: bool = True) -> dict:
    """Metadata of a video: fps, frame count, width, height, codec, duration.

    With ``count=True`` every frame is decoded, so the frame count is exact and a truncated or
    corrupt file is detected here, before any model touches it.
    """
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate
        if not rate:
            raise EthoflowError(f"{path}: video stream has no frame rate")
        info = {
            "path": str(path),
            "fps": float(rate),
            "fps_fraction": [rate.numerator, rate.denominator],
            "width": int(stream.codec_context.width),
            "height": int(stream.codec_context.height),
            "codec": stream.codec_context.name,
            "declared_frames": int(stream.frames or 0),
        }
        if count:
            n = 0
            try:
                for _ in container.decode(stream):
                    n += 1
            except av.error.FFmpegError as e:
                raise EthoflowError(f"{path}: video is corrupt after frame {n} ({e})") from None
            declared = info["declared_frames"]
            if declared and n < declared:
                raise EthoflowError(
                    f"{path}: video is truncated: header declares {declared} frames, "
                    f"only {n} decode"
                )
            info["n_frames"] = n
        else:
            info["n_frames"] = info["declared_frames"]
        if info["n_frames"] == 0:
            raise EthoflowError(f"{path}: video has no decodable frames")
        info["duration_s"] = info["n_frames"] / info["fps"]
        log.info(
            "%s: %d frames, %dx%d, %.3f fps, %s",
            path,
            info["n_frames"],
            info["width"],
            info["height"],
            info["fps"],
            info["codec"],
        )
        return info
    finally:
        container.close()


def _frame_index(frame, stream, fps: Fraction, start_pts: int) -> int | None:
    if frame.pts is None or stream.time_base is None:
        return None
    return int(round((frame.pts - start_pts) * stream.time_base * fps))


def iter_frames(
    path: str | os.PathLike, start: int = 0, stop: int | None = None, gray: bool = False
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(index, frame)`` for frames ``start <= index < stop`` as HxWx3 uint8 RGB arrays."""
    path = Path(path)
    fmt = "gray" if gray else "rgb24"
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = Fraction(stream.average_rate or stream.guessed_rate)
        start_pts = stream.start_time or 0
        seek_ok = start > 0 and stream.time_base is not None
        if seek_ok:
            # Seek a little before the wanted frame; decode forward to it.
            target = start_pts + int((start - 1) / fps / stream.time_base)
            container.seek(max(target, start_pts), stream=stream, backward=True, any_frame=False)
        idx = -1
        try:
            for frame in container.decode(stream):
                pos = _frame_index(frame, stream, fps, start_pts) if seek_ok else None
                idx = pos if pos is not None else idx + 1
                if idx < start:
                    continue
                if stop is not None and idx >= stop:
                    break
                yield idx, frame.to_ndarray(format=fmt)
        except av.error.FFmpegError as e:
            raise EthoflowError(f"{path}: video is corrupt near frame {idx + 1} ({e})") from None
    finally:
        container.close()


_DONE = object()


def background(items: Iterable, maxsize: int = 8) -> Iterator:
    """Iterate ``items`` in a background thread, at most ``maxsize`` ahead of the consumer.

    For a decoder (FFmpeg releases the GIL while it decodes) this overlaps decoding with
    whatever the consumer does with each item; memory stays bounded by ``maxsize`` items. An
    exception in the producer is raised in the consumer; closing the iterator early stops it.
    """
    q: queue.Queue = queue.Queue(maxsize=maxsize)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((True, item)):
                    return
        except BaseException as e:  # handed to the consumer, raised there
            put((False, e))
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                close()  # a generator's own cleanup (a decoder closes its file)
        put((True, _DONE))

    thread = threading.Thread(target=produce, name="ethoflow-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            ok, item = q.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)


def read_frames(path: str | os.PathLike, indices: list[int]) -> dict[int, np.ndarray]:
    """Decode only the listed frames (one sequential pass)."""
    wanted = set(int(i) for i in indices)
    out: dict[int, np.ndarray] = {}
    if not wanted:
        return out
    for i, f in iter_frames(path, 0, max(wanted) + 1):
        if i in wanted:
            out[i] = f
    missing = wanted - set(out)
    if missing:
        raise EthoflowError(f"{path}: frames {sorted(missing)[:5]} are beyond the end of the video")
    return out


class VideoWriter:
    """Atomic H.264 (or MPEG-4 part 2) writer: the file appears only after ``close()``."""

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        width: int,
        height: int,
        crf: int = 18,
        codec: str = "libx264",
    ):
        self._atomic = atomic_path(path)
        self._tmp = self._atomic.__enter__()
        self._container = av.open(str(self._tmp), mode="w", format="mp4")
        if codec not in av.codecs_available:
            codec = "mpeg4"
        self._stream = self._container.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        self._stream.width, self._stream.height = width, height
        self._stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            # Closed GOPs (no B-frames, a key frame at least every 30 frames) keep decoding after
            # a seek identical; x264 may add scene-cut key frames, which a seek handles as well.
            self._stream.options = {"crf": str(crf), "preset": "medium", "g": "30", "bf": "0"}
        else:
            self._stream.options = {"qscale": "2", "g": "30"}
        self._closed = False

    def write(self, frame: np.ndarray) -> None:
        if frame.ndim == 2:
            frame = np.repeat(frame[:, :, None], 3, axis=2)
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame, dtype=np.uint8), format="rgb24")
        for packet in self._stream.encode(vf):
            self._container.mux(packet)

    def close(self) -> None:
        if self._closed:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._closed = True
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        if not self._closed:
            self._container.close()
            self._closed = True
            self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.abort()
        return False


def scaled_size(width: int, height: int, downscale: float) -> tuple[int, int]:
    """Frame size after dividing by ``downscale``, rounded to even numbers (H.264's yuv420p)."""
    if not downscale >= 1:
        raise EthoflowError(f"downscale must be >= 1, got {downscale}")
    return max(2, 2 * round(width / downscale / 2)), max(2, 2 * round(height / downscale / 2))


def prepare(
    src: str | os.PathLike,
    dest: str | os.PathLike,
    *,
    downscale: float = 1.0,
    start: int = 0,
    stop: int | None = None,
    progress=None,
) -> dict:
    """Write frames ``start <= i < stop`` of ``src`` to ``dest``, each shrunk by ``downscale``
    (area interpolation), at the source's frame rate. Frame ``start`` becomes frame 0. The
    working copy that lets a 1024x1024 clip run on a CPU at 256x256; labels and truth are scaled
    and shifted by the same numbers (:func:`ethoflow.io.keypoints.transform`)."""
    import cv2
    from tqdm import tqdm

    info = probe(src, count=False)
    if start < 0 or (stop is not None and stop <= start):
        raise EthoflowError(f"{src}: empty frame range [{start}, {stop})")
    w, h = scaled_size(info["width"], info["height"], downscale)
    n = 0
    it = iter_frames(src, start, stop)
    if progress is not None:
        total = (stop - start) if stop is not None else None
        it = tqdm(it, total=total, desc="prepare", file=progress, mininterval=1)
    with VideoWriter(dest, info["fps"], w, h) as out:
        for _, frame in it:
            if frame.shape[1] != w or frame.shape[0] != h:
                frame = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA)
            out.write(frame)
            n += 1
        if n == 0:
            raise EthoflowError(f"{src}: no frames in [{start}, {stop})")
    log.info(
        "%s -> %s: %d frames, %dx%d (downscale %g, from frame %d)",
        src,
        dest,
        n,
        w,
        h,
        downscale,
        start,
    )
    return {"frames": n, "width": w, "height": h, "downscale": downscale, "start": start}
