"""Atomic writes and logging shared by every stage.

Every output is written to a temporary file beside its destination and renamed into place, so a
failed or killed step never leaves a half-written file behind.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger("ethoflow")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class EthoflowError(Exception):
    """An error in user input: the message names the file and the problem."""


@contextlib.contextmanager
def atomic_path(dest: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; renamed onto ``dest`` if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{dest.name}.",
        suffix=suffix if suffix is not None else dest.suffix,
        dir=dest.parent,
    )
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600 files; outputs are shared
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(dest: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory beside ``dest``; it replaces ``dest`` if the block succeeds."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _strict(obj: Any) -> Any:
    """NaN and infinities -> null, numpy scalars -> Python numbers, so the JSON is strict."""
    if isinstance(obj, dict):
        return {k: _strict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_strict(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def write_json(obj: Any, dest: str | os.PathLike, **kwargs) -> None:
    """Write strict JSON (NaN -> null) atomically."""
    text = json.dumps(_strict(obj), indent=kwargs.pop("indent", 2), allow_nan=False, **kwargs)
    with atomic_path(dest) as tmp:
        tmp.write_text(text + "\n")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise EthoflowError(f"{path}: file not found") from None
    except json.JSONDecodeError as e:
        raise EthoflowError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None


def read_rgb(path: str | os.PathLike, what: str = "image"):
    """An image file as an HxWx3 uint8 RGB array; a missing or unreadable file is an error
    naming the file and ``what`` it is (e.g. "training image")."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise EthoflowError(f"{path}: {what} not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise EthoflowError(f"{path}: {what} cannot be read ({e})") from None


@contextlib.contextmanager
def step_logging(logfile: str | os.PathLike | None, level: int = logging.INFO) -> Iterator[Any]:
    """Send logging, warnings, stdout and stderr of one pipeline step to its log file.

    Yields the open log stream (pass it to tqdm as ``file=`` so progress lands in the log).
    Without a log file everything goes to stderr.
    """
    if logfile is None:
        stream = sys.stderr
        close = False
    else:
        Path(logfile).parent.mkdir(parents=True, exist_ok=True)
        stream = open(logfile, "w", buffering=1)  # noqa: SIM115
        close = True
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)
    try:
        with contextlib.redirect_stdout(stream), contextlib.redirect_stderr(stream):
            t0 = time.perf_counter()
            log.info("started")
            try:
                yield stream
            except Exception:
                log.exception("step failed after %.1f s", time.perf_counter() - t0)
                raise
            log.info("done in %.1f s", time.perf_counter() - t0)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        if close:
            stream.close()
