"""LabelMe polygon files (the Annolid / labelme format): the one reader and the one writer.

Reading validates every shape and names the file and field at fault (:func:`load_labelme`).
Writing (:func:`write_labelme`) turns bool masks into the polygons a person tracing the outline
would click (:func:`labelme_shapes`); the demo's labels, the masks bootstrapped from keypoints
and the review queues are all written by it.
"""

from __future__ import annotations

import base64
import logging
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ethoflow.io import masks as M
from ethoflow.io.files import EthoflowError, read_json, write_json
from ethoflow.io.images import base64_text, decode_png
from ethoflow.io.labelled import AnnotationError, LabelledFrame, check_identity, read_label_image

log = logging.getLogger(__name__)

VERSION = "5.4.1"
_UPSAMPLE = 4  # polygons trace pixel edges to 1 / _UPSAMPLE px


def load_labelme(path: str | os.PathLike, identities: list[str]) -> LabelledFrame:
    path = Path(path)
    doc = read_json(path)
    if not isinstance(doc, dict) or "shapes" not in doc:
        raise AnnotationError(path, "shapes", "missing: not a LabelMe file")
    if doc.get("imageData"):
        try:
            image = decode_png(base64.b64decode(doc["imageData"]))
        except (EthoflowError, ValueError) as e:
            raise AnnotationError(path, "imageData", f"cannot be decoded ({e})") from None
    elif doc.get("imagePath"):
        image = read_label_image(path.parent / doc["imagePath"], path, "imagePath")
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
        check_identity(label, identities, path, f"{fld}.label")
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


def _polygon_area(p: list[float]) -> float:
    x, y = np.asarray(p[0::2]), np.asarray(p[1::2])
    return 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def labelme_doc(
    shapes: list[dict], image_path: str, height: int, width: int, image_data: str | None = None
) -> dict:
    """A LabelMe file's content: ``shapes`` (from :func:`labelme_shapes`) on the image at
    ``image_path`` (relative to the file), ``image_data`` the image base64-embedded or None."""
    return {
        "version": VERSION,
        "flags": {},
        "shapes": shapes,
        "imagePath": image_path,
        "imageData": image_data,
        "imageHeight": int(height),
        "imageWidth": int(width),
    }


def labelme_shapes(
    masks_back_to_front: list[tuple[str, np.ndarray]],
    tolerance: float = 1.0,
    group_ids: Sequence[int | None] | None = None,
) -> list[dict]:
    """LabelMe polygon shapes for visible masks, listed back to front.

    Points are in LabelMe's continuous image coordinates (pixel ``(x, y)`` spans
    ``[x, x + 1) x [y, y + 1)``, as in COCO) and follow the object's outer edge, as a person
    tracing the outline clicks it: the contour of the mask upsampled ``_UPSAMPLE`` times,
    simplified to ``tolerance`` pixels. ``masks.from_polygons`` rasterises them back to the mask.
    A mask in several parts gives one polygon per part, sharing one integer ``group_id``
    (``group_ids[k]`` for the k-th mask, default ``k + 1``); slivers under 2 px² are left out,
    as a labeller would.
    """
    k_up = _UPSAMPLE
    shapes = []
    for k, (label, mask) in enumerate(masks_back_to_front):
        up = np.kron(mask.astype(np.uint8), np.ones((k_up, k_up), dtype=np.uint8))
        polys = [[(c + 0.5) / k_up for c in p] for p in M.to_polygons(up, tolerance * k_up)]
        polys = [p for p in polys if _polygon_area(p) >= 2.0]
        gid = None
        if len(polys) > 1:
            gid = group_ids[k] if group_ids is not None else k + 1
        for p in polys:
            shapes.append(
                {
                    "label": label,
                    "points": [[float(x), float(y)] for x, y in zip(p[0::2], p[1::2], strict=True)],
                    "group_id": gid,
                    "description": "",
                    "shape_type": "polygon",
                    "flags": {},
                    "mask": None,
                }
            )
    return shapes


def write_labelme(
    dest: str | os.PathLike,
    masks: Sequence[tuple[str, np.ndarray]],
    *,
    image_path: str | os.PathLike,
    image_shape: Sequence[int],
    png: bytes | None = None,
    group_ids: Sequence[int | None] | None = None,
) -> None:
    """Write a LabelMe file at ``dest`` (atomically) holding ``masks`` as polygons.

    ``masks``: ``(label, bool HxW mask)`` listed back to front (:func:`labelme_shapes`); empty
    masks give no shape. ``imagePath`` is ``image_path`` relative to ``dest``'s folder;
    ``image_shape`` is (height, width[, channels]). ``png``: the image's PNG bytes, embedded as
    ``imageData`` so the file is complete without the image beside it. A mask of another size
    than the image is an error naming ``dest``.
    """
    dest = Path(dest)
    h, w = int(image_shape[0]), int(image_shape[1])
    for label, m in masks:
        if np.shape(m) != (h, w):
            raise EthoflowError(
                f"{dest}: the mask of {label!r} is {np.shape(m)[1]}x{np.shape(m)[0]} but the image "
                f"is {w}x{h} (width x height)"
            )
    rel = os.path.relpath(os.path.abspath(image_path), os.path.abspath(dest.parent))
    data = base64_text(png) if png is not None else None
    shapes = labelme_shapes(
        [(label, np.asarray(m, bool)) for label, m in masks], group_ids=group_ids
    )
    write_json(labelme_doc(shapes, Path(rel).as_posix(), h, w, data), dest)
