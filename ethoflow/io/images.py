"""Images on disk and in memory: the one reader and the one PNG encoder of the package.

Every PNG ethoflow writes (extracted frames, the training set, demo labels, bootstrapped masks,
review queues, report figures) goes through :func:`png_bytes` / :func:`write_png` (arrays) or
:func:`figure_png` (matplotlib figures), and every data URI through :func:`data_uri`.
"""

from __future__ import annotations

import base64
import io
import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from ethoflow.io.files import EthoflowError, atomic_path

#: What :func:`open_rgb` raises for a file that is not a readable image.
UNREADABLE = (UnidentifiedImageError, OSError)


def open_rgb(source) -> np.ndarray:
    """An image (a path or a binary file object) as an HxWx3 uint8 RGB array. Raises
    FileNotFoundError or one of :data:`UNREADABLE`; the readers below turn those into errors
    that name the file."""
    with Image.open(source) as im:
        return np.asarray(im.convert("RGB"))


def read_rgb(path: str | os.PathLike, what: str = "image") -> np.ndarray:
    """An image file as an HxWx3 uint8 RGB array; a missing or unreadable file is an error
    naming the file and ``what`` it is (e.g. "training image")."""
    try:
        return open_rgb(path)
    except FileNotFoundError:
        raise EthoflowError(f"{path}: {what} not found") from None
    except UNREADABLE as e:
        raise EthoflowError(f"{path}: {what} cannot be read ({e})") from None


def decode_png(data: bytes) -> np.ndarray:
    """PNG (or any PIL-readable) bytes -> HxWx3 uint8 RGB; an EthoflowError saying why not."""
    try:
        return open_rgb(io.BytesIO(data))
    except (*UNREADABLE, ValueError) as e:
        raise EthoflowError(str(e)) from None


def png_bytes(image: np.ndarray) -> bytes:
    """An HxW grey, HxWx3 RGB or HxWx4 RGBA uint8 array as PNG bytes."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise EthoflowError(
            f"PNG: expected an HxW or HxWxC uint8 image, got {image.shape} {image.dtype}"
        )
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buf, format="PNG")
    return buf.getvalue()


def write_png(image: np.ndarray, dest: str | os.PathLike) -> bytes:
    """Write ``image`` as a PNG file atomically; returns the bytes written."""
    data = png_bytes(image)
    with atomic_path(dest, suffix=".png") as tmp:
        tmp.write_bytes(data)
    return data


def figure_png(fig) -> bytes:
    """A matplotlib figure as PNG bytes, cropped to what it draws (legends outside included)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def data_uri(png: bytes) -> str:
    """PNG bytes as a ``data:image/png;base64,...`` URI (HTML reports embed their figures)."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def base64_text(data: bytes) -> str:
    """Bytes as base64 ASCII text (LabelMe's ``imageData``)."""
    return base64.b64encode(data).decode("ascii")
