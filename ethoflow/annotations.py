"""Import LabelMe polygon JSON (Annolid/labelme format) and COCO JSON into one COCO dataset.

One category per identity (names and order from the config). Frames are split into train/val by a
hash of the image name, so the split of existing frames never changes when labels are added.
Every problem is reported with the file and the field at fault.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from . import masks as M
from .io import EthoflowError, atomic_dir, read_json, write_json

log = logging.getLogger(__name__)
NAME_RE = re.compile(r"^(?P<video>.+)_(?P<frame>\d+)$")


class AnnotationError(EthoflowError):
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


def _read_image(path: Path, label_file: Path, fld: str) -> np.ndarray:
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except FileNotFoundError:
        raise AnnotationError(label_file, fld, f"image {path} not found") from None
    except (UnidentifiedImageError, OSError) as e:
        raise AnnotationError(label_file, fld, f"image {path} cannot be read ({e})") from None


def _check_identity(label, identities, path, fld):
    if label not in identities:
        raise AnnotationError(
            path, fld, f"label {label!r} is not one of the configured identities {list(identities)}"
        )


def load_labelme(path: str | os.PathLike, identities: list[str]) -> LabelledFrame:
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or "shapes" not in doc:
        raise AnnotationError(path, "shapes", "missing: not a LabelMe file")
    if doc.get("imageData"):
        try:
            raw = base64.b64decode(doc["imageData"])
            with Image.open(io.BytesIO(raw)) as im:
                image = np.asarray(im.convert("RGB"))
        except Exception as e:
            raise AnnotationError(path, "imageData", f"cannot be decoded ({e})") from None
    elif doc.get("imagePath"):
        image = _read_image(path.parent / doc["imagePath"], path, "imagePath")
    else:
        raise AnnotationError(path, "imagePath", "missing, and no imageData either")
    h, w = image.shape[:2]
    for key, actual in (("imageHeight", h), ("imageWidth", w)):
        if key in doc and doc[key] is not None and int(doc[key]) != actual:
            raise AnnotationError(
                path, key, f"says {doc[key]} but the image is {w}x{h} (width x height)"
            )
    groups: dict[tuple, list] = {}
    first_field: dict[str, str] = {}
    for i, shape in enumerate(doc["shapes"]):
        fld = f"shapes[{i}]"
        stype = shape.get("shape_type") or "polygon"
        label = shape.get("label")
        if stype != "polygon":
            log.warning("%s: %s is a %s, not a polygon: ignored", path, fld, stype)
            continue
        _check_identity(label, identities, path, f"{fld}.label")
        pts = shape.get("points") or []
        if len(pts) < 3:
            raise AnnotationError(
                path, f"{fld}.points", f"polygon of {label!r} has {len(pts)} points, needs >= 3"
            )
        try:
            flat = [float(c) for p in pts for c in p]
        except (TypeError, ValueError):
            raise AnnotationError(path, f"{fld}.points", "points must be [x, y] numbers") from None
        gid = shape.get("group_id")
        key = (label, gid) if gid is not None else (label, f"shape{i}")
        if label in first_field and key not in groups:
            raise AnnotationError(
                path,
                f"{fld}.label",
                f"identity {label!r} appears twice in one frame ({first_field[label]} and {fld}); "
                "an animal is one instance (give its parts the same group_id)",
            )
        first_field.setdefault(label, fld)
        groups.setdefault(key, []).append(flat)
    instances = [(label, M.from_polygons(polys, h, w)) for (label, _), polys in groups.items()]
    return LabelledFrame(name=path.stem, source=str(path), image=image, instances=instances)


def load_coco(path: str | os.PathLike, identities: list[str]) -> list[LabelledFrame]:
    path = Path(path)
    doc = read_json(path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc, dict) or key not in doc:
            raise AnnotationError(path, key, "missing: not a COCO file")
    cats = {}
    for i, c in enumerate(doc["categories"]):
        _check_identity(c.get("name"), identities, path, f"categories[{i}].name")
        cats[c["id"]] = c["name"]
    frames, by_id = [], {}
    for i, img in enumerate(doc["images"]):
        fld = f"images[{i}]"
        image = _read_image(path.parent / img.get("file_name", ""), path, f"{fld}.file_name")
        h, w = image.shape[:2]
        if (img.get("height"), img.get("width")) != (h, w):
            raise AnnotationError(
                path, fld, f"says {img.get('width')}x{img.get('height')} but the image is {w}x{h}"
            )
        lf = LabelledFrame(name=Path(img["file_name"]).stem, source=str(path), image=image)
        frames.append(lf)
        by_id[img["id"]] = (lf, {})
    for i, ann in enumerate(doc["annotations"]):
        fld = f"annotations[{i}]"
        if ann.get("image_id") not in by_id:
            raise AnnotationError(path, f"{fld}.image_id", f"{ann.get('image_id')} is no image")
        if ann.get("category_id") not in cats:
            raise AnnotationError(path, f"{fld}.category_id", f"{ann.get('category_id')} unknown")
        lf, seen = by_id[ann["image_id"]]
        label = cats[ann["category_id"]]
        h, w = lf.image.shape[:2]
        seg = ann.get("segmentation")
        if isinstance(seg, list):
            for j, poly in enumerate(seg):
                if len(poly) < 6:
                    raise AnnotationError(
                        path,
                        f"{fld}.segmentation[{j}]",
                        f"polygon has {len(poly) // 2} points, needs >= 3",
                    )
            rle = M.from_polygons(seg, h, w)
        elif isinstance(seg, dict) and "counts" in seg:
            if list(seg.get("size", [])) != [h, w]:
                raise AnnotationError(path, f"{fld}.segmentation.size", "does not match the image")
            if isinstance(seg["counts"], list):
                from pycocotools import mask as mu

                seg = mu.frPyObjects(seg, h, w)
                seg = {"size": [h, w], "counts": seg["counts"].decode("ascii")}
            rle = seg
        else:
            raise AnnotationError(path, f"{fld}.segmentation", "missing or not polygon/RLE")
        if label in seen:
            raise AnnotationError(
                path,
                fld,
                f"identity {label!r} appears twice in image {lf.name} ({seen[label]} and {fld})",
            )
        seen[label] = fld
        lf.instances.append((label, rle))
    return frames


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


def to_coco(frames: list[LabelledFrame], identities: list[str]) -> dict:
    cat_id = {name: i + 1 for i, name in enumerate(identities)}
    images, anns = [], []
    for img_id, lf in enumerate(frames, start=1):
        h, w = lf.image.shape[:2]
        images.append(
            dict(
                id=img_id,
                file_name=f"{lf.name}.png",
                height=h,
                width=w,
                video=lf.video,
                frame=lf.frame,
                source=lf.source,
            )
        )
        for label, rle in lf.instances:
            x1, y1, x2, y2 = M.to_bbox(rle)
            anns.append(
                dict(
                    id=len(anns) + 1,
                    image_id=img_id,
                    category_id=cat_id[label],
                    segmentation=rle,
                    area=M.area(rle),
                    bbox=[x1, y1, x2 - x1, y2 - y1],
                    iscrowd=0,
                )
            )
    cats = [dict(id=i, name=n, supercategory="animal") for n, i in cat_id.items()]
    return dict(images=images, annotations=anns, categories=cats)


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
    val_fraction: float = 0.2,
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
            Image.fromarray(lf.image).save(Path(tmp) / f"{lf.name}.png")
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
