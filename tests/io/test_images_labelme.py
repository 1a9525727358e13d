"""Direct tests of ethoflow.io.images (PNG in and out) and ethoflow.io.labelme (LabelMe files)."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from ethoflow.io import masks as M
from ethoflow.io.files import EthoflowError
from ethoflow.io.images import data_uri, decode_png, png_bytes, read_rgb, write_png
from ethoflow.io.labelled import AnnotationError
from ethoflow.io.labelme import labelme_shapes, load_labelme, write_labelme

H, W = 60, 80


def _rng_image(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_png_round_trip_grey():
    grey = _rng_image((H, W))
    data = png_bytes(grey)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "L" and im.size == (W, H)
    rgb = decode_png(data)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(rgb[..., c], grey)
    # a single-channel HxWx1 image is grey too
    np.testing.assert_array_equal(decode_png(png_bytes(grey[:, :, None])), rgb)


def test_png_round_trip_rgb():
    rgb = _rng_image((H, W, 3), seed=1)
    back = decode_png(png_bytes(rgb))
    assert back.shape == (H, W, 3) and back.dtype == np.uint8
    np.testing.assert_array_equal(back, rgb)
    odd = _rng_image((7, 3, 3), seed=5)
    np.testing.assert_array_equal(decode_png(png_bytes(odd)), odd)


def test_png_round_trip_rgba():
    rgba = _rng_image((H, W, 4), seed=2)
    data = png_bytes(rgba)
    with Image.open(io.BytesIO(data)) as im:
        assert im.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(im), rgba)  # alpha kept in the file
    np.testing.assert_array_equal(decode_png(data), rgba[..., :3])


def test_png_bytes_rejects_bad_arrays():
    for bad in (np.zeros((4, 4), np.float32), np.zeros((4, 4), np.uint16), np.zeros(5, np.uint8)):
        with pytest.raises(EthoflowError, match="uint8"):
            png_bytes(bad)
    with pytest.raises(EthoflowError):
        decode_png(b"definitely not an image")


def test_write_png_is_atomic_and_read_back(tmp_path):
    rgb = _rng_image((H, W, 3), seed=3)
    dest = tmp_path / "sub" / "frame.png"
    data = write_png(rgb, dest)
    assert [p.name for p in dest.parent.iterdir()] == ["frame.png"]  # no temporary files left
    assert dest.read_bytes() == data
    np.testing.assert_array_equal(read_rgb(dest), rgb)
    grey = _rng_image((H, W), seed=4)
    write_png(grey, dest)  # overwrite in place
    assert [p.name for p in dest.parent.iterdir()] == ["frame.png"]
    np.testing.assert_array_equal(read_rgb(dest), np.repeat(grey[:, :, None], 3, axis=2))
    # a failed write leaves the old file and nothing else
    with pytest.raises(EthoflowError):
        write_png(np.zeros((3, 3), np.float64), dest)
    assert [p.name for p in dest.parent.iterdir()] == ["frame.png"]
    np.testing.assert_array_equal(read_rgb(dest)[..., 0], grey)


def test_data_uri():
    data = png_bytes(_rng_image((4, 4, 3)))
    uri = data_uri(data)
    assert uri.startswith("data:image/png;base64,")
    assert base64.b64decode(uri.split(",", 1)[1]) == data


def test_read_rgb_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.png"
    with pytest.raises(EthoflowError, match="training image not found") as e:
        read_rgb(missing, what="training image")
    assert str(missing) in str(e.value)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    with pytest.raises(EthoflowError, match="cannot be read") as e:
        read_rgb(garbage)
    assert str(garbage) in str(e.value)
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(EthoflowError) as e:
        read_rgb(text)
    assert str(text) in str(e.value)


# --- LabelMe ------------------------------------------------------------------------------


def _ellipse(cy, cx, ry, rx, shape=(H, W)):
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def _scene():
    image = _rng_image((H, W, 3), seed=9)
    one = _ellipse(20, 22, 10, 15)
    two = _ellipse(45, 20, 6, 9) | np.pad(np.ones((12, 16), bool), ((38, 10), (55, 9)))
    assert not (one & two).any()
    return image, [("mouse_a", one), ("mouse_b", two)]


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


@pytest.mark.parametrize("embed", [False, True], ids=["imagePath", "imageData"])
def test_labelme_round_trip(tmp_path, embed):
    image, masks = _scene()
    img_path = tmp_path / "images" / "clip_000012.png"
    png = write_png(image, img_path)
    dest = tmp_path / "labels" / "clip_000012.json"
    write_labelme(
        dest,
        masks,
        image_path=img_path,
        image_shape=image.shape,
        png=png if embed else None,
        group_ids=[3, 7],
    )
    assert [p.name for p in dest.parent.iterdir()] == ["clip_000012.json"]
    doc = json.loads(dest.read_text())
    assert doc["imagePath"] == "../images/clip_000012.png"
    assert (doc["imageHeight"], doc["imageWidth"]) == (H, W)
    assert (doc["imageData"] is not None) == embed
    by_label = {}
    for s in doc["shapes"]:
        assert s["shape_type"] == "polygon" and len(s["points"]) >= 3
        by_label.setdefault(s["label"], []).append(s["group_id"])
    assert by_label == {"mouse_a": [None], "mouse_b": [7, 7]}
    if embed:
        img_path.unlink()  # the file is complete without the image beside it
    frame = load_labelme(dest, ["mouse_a", "mouse_b", "mouse_c"])
    assert frame.name == "clip_000012"
    assert frame.video == "clip" and frame.frame == 12
    assert frame.source == str(dest)
    np.testing.assert_array_equal(frame.image, image)
    assert [label for label, _ in frame.instances] == ["mouse_a", "mouse_b"]
    for (label, rle), (_, want) in zip(frame.instances, masks):
        got = M.decode(rle)
        assert got.shape == (H, W)
        assert _iou(got, want) >= 0.9, label
    # the two parts of mouse_b come back as one instance covering both
    got_b = M.decode(frame.instances[1][1])
    assert got_b[45, 20] and got_b[44, 62]


def test_labelme_default_group_ids_and_empty_masks(tmp_path):
    image, masks = _scene()
    img_path = tmp_path / "f.png"
    write_png(image, img_path)
    dest = tmp_path / "f.json"
    empty = ("mouse_c", np.zeros((H, W), bool))
    write_labelme(dest, [empty, *masks], image_path=img_path, image_shape=(H, W))
    doc = json.loads(dest.read_text())
    assert doc["imagePath"] == "f.png"
    assert [(s["label"], s["group_id"]) for s in doc["shapes"]] == [
        ("mouse_a", None),
        ("mouse_b", 3),
        ("mouse_b", 3),
    ]
    frame = load_labelme(dest, ["mouse_a", "mouse_b", "mouse_c"])
    assert [label for label, _ in frame.instances] == ["mouse_a", "mouse_b"]


def test_labelme_shapes_trace_pixel_edges():
    m = np.zeros((20, 30), bool)
    m[4:10, 5:17] = True  # pixels [5, 17) x [4, 10) in continuous coordinates
    (shape,) = labelme_shapes([("a", m)])
    pts = np.asarray(shape["points"])
    assert pts[:, 0].min() == pytest.approx(5, abs=0.25)
    assert pts[:, 0].max() == pytest.approx(17, abs=0.25)
    assert pts[:, 1].min() == pytest.approx(4, abs=0.25)
    assert pts[:, 1].max() == pytest.approx(10, abs=0.25)
    back = M.decode(M.from_polygons([pts.flatten().tolist()], 20, 30))
    np.testing.assert_array_equal(back, m)


def test_labelme_wrong_mask_size(tmp_path):
    image, masks = _scene()
    dest = tmp_path / "bad.json"
    wrong = [masks[0], ("mouse_b", np.zeros((W, H), bool))]
    with pytest.raises(EthoflowError, match="mouse_b") as e:
        write_labelme(dest, wrong, image_path=tmp_path / "x.png", image_shape=image.shape)
    assert str(dest) in str(e.value)
    assert "60x80" in str(e.value) and "80x60" in str(e.value)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == []


def test_load_labelme_errors_name_the_file(tmp_path):
    image, masks = _scene()
    img_path = tmp_path / "f.png"
    write_png(image, img_path)
    dest = tmp_path / "f.json"
    write_labelme(dest, masks, image_path=img_path, image_shape=image.shape)
    with pytest.raises(AnnotationError, match="mouse_b") as e:
        load_labelme(dest, ["mouse_a"])
    assert str(dest) in str(e.value)
    img_path.unlink()
    with pytest.raises(EthoflowError, match="not found") as e:
        load_labelme(dest, ["mouse_a", "mouse_b"])
    assert str(dest) in str(e.value)
    write_png(image[:, :40], img_path)  # an image of another size than the file says
    with pytest.raises(EthoflowError, match="imageWidth") as e:
        load_labelme(dest, ["mouse_a", "mouse_b"])
    assert str(dest) in str(e.value)
