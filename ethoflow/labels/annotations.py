"""Import LabelMe polygon JSON (Annolid/labelme format) and COCO JSON into one COCO dataset.

One category per identity (names and order from the config). Frames are split into train/val by a
hash of the image name, so the split of existing frames never changes when labels are added.
Every problem is reported with the file and the field at fault (the readers live in
:mod:`ethoflow.io.labelme` and :mod:`ethoflow.io.coco`).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from ethoflow.defaults import ANNOTATIONS
from ethoflow.io.coco import load_coco, to_coco
from ethoflow.io.files import EthoflowError, atomic_dir, write_json
from ethoflow.io.images import write_png
from ethoflow.io.labelled import AnnotationError, LabelledFrame
from ethoflow.io.labelme import load_labelme

__all__ = [
    "AnnotationError",
    "LabelledFrame",
    "import_annotations",
    "label_files_in",
    "load_label_file",
    "load_labels",
    "resolve_label_inputs",
    "split_of",
]

log = logging.getLogger(__name__)


def load_label_file(path: str | os.PathLike, identities: list[str]) -> list[LabelledFrame]:
    """The labelled frames of one label file (``*.coco.json``: COCO; other ``*.json``:
    LabelMe)."""
    path = Path(path)
    if path.name.endswith(".coco.json"):
        return load_coco(path, identities)
    return [load_labelme(path, identities)]


def load_labels(files: list[str | os.PathLike], identities: list[str]) -> list[LabelledFrame]:
    """Load every label file (``*.json``: LabelMe; ``*.coco.json`` or COCO content: COCO)."""
    frames: dict[str, LabelledFrame] = {}
    for f in sorted(Path(p) for p in files):
        for lf in load_label_file(f, identities):
            if lf.name in frames:
                raise AnnotationError(
                    f, None, f"frame {lf.name} is labelled twice (also in {frames[lf.name].source})"
                )
            frames[lf.name] = lf
    if not frames:
        raise EthoflowError("no label files: nothing to train on (label frames, then run again)")
    if not any(lf.instances for lf in frames.values()):
        raise EthoflowError(
            f"no labelled instances in {len(frames)} label files "
            f"({', '.join(sorted({str(Path(lf.source).parent) for lf in frames.values()}))})"
        )
    return [frames[k] for k in sorted(frames)]


def split_of(name: str, val_fraction: float) -> str:
    h = int(hashlib.sha1(name.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
    return "val" if h < val_fraction else "train"


def resolve_label_inputs(inputs: list[str | os.PathLike]) -> list[str]:
    """Label files from the rule's inputs: files as they are, and the ``*.json`` of folders
    (masks bootstrapped from keypoints). A file and a folder entry for the same frame (same
    name): the file wins, so a corrected LabelMe file dropped into a labels folder replaces the
    bootstrapped mask of that frame."""
    files: dict[str, str] = {}
    from_dirs: dict[str, str] = {}
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for f in label_files_in(path):
                from_dirs.setdefault(Path(f).name, f)
        else:
            files[str(path)] = str(path)
    names = {Path(f).name for f in files}
    replaced = sorted(n for n in from_dirs if n in names)
    if replaced:
        log.info(
            "%d bootstrapped label files replaced by labelled ones: %s",
            len(replaced),
            ", ".join(replaced[:10]) + (" ..." if len(replaced) > 10 else ""),
        )
    return sorted(files) + sorted(f for n, f in from_dirs.items() if n not in names)


def import_annotations(
    label_files: list[str | os.PathLike],
    identities: list[str],
    train_json: str | os.PathLike,
    val_json: str | os.PathLike,
    images_dir: str | os.PathLike,
    val_fraction: float = ANNOTATIONS["val_fraction"],
) -> dict:
    """Validate all labels and write the COCO train/val datasets and their images."""
    if len(set(identities)) != len(identities) or not identities:
        raise EthoflowError(f"identities must be distinct names, got {identities}")
    frames = load_labels(resolve_label_inputs(label_files), identities)
    split = {lf.name: split_of(lf.name, val_fraction) for lf in frames}
    if val_fraction > 0 and len(frames) >= 2 and "val" not in split.values():
        first = min(split, key=lambda n: hashlib.sha1(n.encode()).hexdigest())
        split[first] = "val"
    if "train" not in split.values():
        raise EthoflowError(f"all {len(frames)} labelled frames fell into val: lower val_fraction")
    with atomic_dir(images_dir) as tmp:
        for lf in frames:
            write_png(lf.image, Path(tmp) / f"{lf.name}.png")
    counts = {}
    for part, dest in (("train", train_json), ("val", val_json)):
        subset = [lf for lf in frames if split[lf.name] == part]
        write_json(to_coco(subset, identities), dest)
        counts[part] = len(subset)
    log.info("imported %d frames (%s)", len(frames), counts)
    return counts


def label_files_in(directory: str | os.PathLike) -> list[str]:
    """The label files of a folder (LabelMe ``*.json`` and COCO ``*.coco.json``), sorted."""
    d = Path(directory)
    return sorted(str(p) for p in d.glob("*.json")) if d.is_dir() else []
