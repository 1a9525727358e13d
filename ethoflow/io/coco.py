"""COCO instance-segmentation files: reading label files and writing the training set.

One category per identity; masks as RLE (``counts`` a string). Every problem is reported with
the file and the field at fault.
"""

from __future__ import annotations

import os
from pathlib import Path

from ethoflow.io import masks as M
from ethoflow.io.files import read_json
from ethoflow.io.labelled import AnnotationError, LabelledFrame, check_identity, read_label_image


def load_coco(path: str | os.PathLike, identities: list[str]) -> list[LabelledFrame]:
    path = Path(path)
    doc = read_json(path)
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc, dict) or key not in doc:
            raise AnnotationError(path, key, "missing: not a COCO file")
    cats = {}
    for i, c in enumerate(doc["categories"]):
        check_identity(c.get("name"), identities, path, f"categories[{i}].name")
        cats[c["id"]] = c["name"]
    frames, by_id = [], {}
    for i, img in enumerate(doc["images"]):
        fld = f"images[{i}]"
        image = read_label_image(path.parent / img.get("file_name", ""), path, f"{fld}.file_name")
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
