"""Labelled frames: what every label format (LabelMe, COCO) reads into, and how frames are named.

A labelled frame is named ``{video}_{frame:06d}`` (:func:`frame_name`) when it is a frame of a
video, so a label file, an extracted frame and a review-queue file of the same frame share one
name; a corrected file dropped into a labels folder replaces the bootstrapped one by that name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ethoflow.io.files import EthoflowError
from ethoflow.io.images import UNREADABLE, open_rgb

NAME_RE = re.compile(r"^(?P<video>.+)_(?P<frame>\d+)$")


def frame_name(video: str, index: int) -> str:
    """The name of frame ``index`` of ``video``: ``{video}_{index:06d}``."""
    return f"{video}_{index:06d}"


class AnnotationError(EthoflowError):
    """A label file that cannot be used: the message names the file, the field and the problem."""

    def __init__(self, path, field_name: str | None, message: str):
        where = f"{path}" + (f": {field_name}" if field_name else "")
        super().__init__(f"{where}: {message}")
        self.path, self.field, self.problem = str(path), field_name, message


@dataclass
class LabelledFrame:
    name: str  # unique image name, e.g. demo_a_000123
    source: str  # label file
    image: np.ndarray  # HxWx3 uint8
    instances: list[tuple[str, dict]] = field(default_factory=list)  # (identity, RLE)

    @property
    def video(self) -> str | None:
        m = NAME_RE.match(self.name)
        return m["video"] if m else None

    @property
    def frame(self) -> int:
        m = NAME_RE.match(self.name)
        return int(m["frame"]) if m else -1


def read_label_image(path: Path, label_file: Path, fld: str) -> np.ndarray:
    """The image a label file refers to, as HxWx3 uint8 RGB; errors name the label file."""
    try:
        return open_rgb(path)
    except FileNotFoundError:
        raise AnnotationError(label_file, fld, f"image {path} not found") from None
    except UNREADABLE as e:
        raise AnnotationError(label_file, fld, f"image {path} cannot be read ({e})") from None


def check_identity(label, identities, path, fld) -> None:
    """An AnnotationError unless ``label`` is one of the configured ``identities``."""
    if label not in identities:
        raise AnnotationError(
            path, fld, f"label {label!r} is not one of the configured identities {list(identities)}"
        )
