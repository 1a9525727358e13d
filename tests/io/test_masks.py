"""Direct tests of ethoflow.io.masks: COCO RLE encode/decode, geometry, overlaps, polygons."""

from __future__ import annotations

import numpy as np
import pytest
from pycocotools import mask as coco

from ethoflow.io import masks as M

# pycocotools' own decode under numpy 2 (not ethoflow's code)
pytestmark = pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")

SHAPES = [(1, 1), (1, 17), (17, 1), (7, 13), (48, 64), (64, 48), (100, 3)]


def _random_masks(shape, seed, n=4):
    """Masks of several densities, from salt-and-pepper to a few large blobs (long runs)."""
    rng = np.random.default_rng(seed)
    h, w = shape
    out = [rng.random(shape) < p for p in (0.05, 0.5, 0.95)]
    blobs = np.zeros(shape, dtype=bool)
    for _ in range(n):
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        blobs[y0 : y0 + rng.integers(1, h + 1), x0 : x0 + rng.integers(1, w + 1)] = True
    out.append(blobs)
    return out


def _all_masks():
    for i, shape in enumerate(SHAPES):
        yield from _random_masks(shape, seed=i)
        yield np.zeros(shape, dtype=bool)
        yield np.ones(shape, dtype=bool)


def _numpy_runs(mask: np.ndarray) -> list[int]:
    """COCO's uncompressed counts: alternating 0/1 run lengths of the column-major pixels,
    starting with a (possibly empty) run of zeros."""
    flat = mask.T.reshape(-1).astype(np.int8)
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs = [0, *runs]
    return runs


@pytest.mark.parametrize("shape", SHAPES + [(256, 256), (5, 300)])
def test_encode_decode_round_trip(shape):
    for m in [*_random_masks(shape, seed=sum(shape)), np.zeros(shape, bool), np.ones(shape, bool)]:
        rle = M.encode(m)
        assert rle["size"] == [shape[0], shape[1]]
        assert isinstance(rle["counts"], str)
        back = M.decode(rle)
        assert back.dtype == bool
        assert back.shape == shape
        np.testing.assert_array_equal(back, m)


def test_encode_accepts_non_bool_masks():
    m = np.zeros((6, 9), dtype=np.uint8)
    m[1:4, 2:7] = 255
    np.testing.assert_array_equal(M.decode(M.encode(m)), m > 0)
    np.testing.assert_array_equal(M.decode(M.encode(m > 0)), m > 0)


def test_decode_matches_pycocotools():
    for m in _all_masks():
        rle = M.encode(m)
        ref = coco.decode({"size": rle["size"], "counts": rle["counts"].encode("ascii")})
        np.testing.assert_array_equal(M.decode(rle), ref.astype(bool))


def test_pure_python_runs_match_pycocotools():
    """``_runs`` (pycocotools' rleFrString) against run lengths from numpy and against the
    compressed strings pycocotools itself makes from uncompressed counts."""
    for m in _all_masks():
        counts = M.encode(m)["counts"]
        expected = _numpy_runs(m)
        assert M._runs(counts) == expected
        assert M._runs(counts.encode("ascii")) == expected
        h, w = m.shape
        compressed = coco.frPyObjects({"size": [h, w], "counts": expected}, h, w)["counts"]
        assert compressed.decode("ascii") == counts
        assert M._runs(compressed) == expected


def test_runs_long_and_alternating_lengths():
    """Run lengths that need several characters and differences of both signs."""
    lengths = [0, 1, 31, 32, 33, 1023, 1024, 1025, 5, 70000, 2, 40000, 3, 1]
    total = sum(lengths)
    counts = coco.frPyObjects({"size": [total, 1], "counts": lengths}, total, 1)["counts"]
    assert M._runs(counts) == lengths
    mask = M.decode({"size": [total, 1], "counts": counts.decode("ascii")})
    np.testing.assert_array_equal(mask, coco.decode({"size": [total, 1], "counts": counts}) > 0)


def test_decode_uncompressed_counts():
    m = _random_masks((9, 11), seed=3)[1]
    runs = _numpy_runs(m)
    np.testing.assert_array_equal(M.decode({"size": [9, 11], "counts": runs}), m)
    np.testing.assert_array_equal(M.decode({"size": [9, 11], "counts": np.asarray(runs)}), m)


def test_area_and_bbox_match_numpy():
    for m in _all_masks():
        rle = M.encode(m)
        assert M.area(rle) == int(m.sum())
        ys, xs = np.nonzero(m)
        if len(xs) == 0:
            assert M.to_bbox(rle) == (0.0, 0.0, 0.0, 0.0)
        else:
            expected = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert M.to_bbox(rle) == tuple(float(v) for v in expected)


def test_bbox_is_x_then_y_on_a_non_square_mask():
    m = np.zeros((20, 50), dtype=bool)
    m[3:8, 30:45] = True  # rows 3..7, columns 30..44
    assert M.to_bbox(M.encode(m)) == (30.0, 3.0, 45.0, 8.0)
    assert M.area(M.encode(m)) == 5 * 15


def _numpy_iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 0.0


def test_iou_matrix_matches_numpy():
    rng = np.random.default_rng(7)
    shape = (30, 41)
    a = [rng.random(shape) < p for p in (0.2, 0.5, 0.8)]
    b = [rng.random(shape) < p for p in (0.3, 0.6)] + [a[1].copy()]
    a[0][0, 0] = True  # no empty masks (IoU of two empty masks is a convention)
    got = M.iou_matrix([M.encode(m) for m in a], [M.encode(m) for m in b])
    assert got.shape == (3, 3)
    assert got.dtype == np.float64
    expected = np.array([[_numpy_iou(x, y) for y in b] for x in a])
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    assert got[1, 2] == pytest.approx(1.0)


def test_iou_matrix_disjoint_and_empty_lists():
    a = np.zeros((10, 10), bool)
    a[:5] = True
    b = ~a
    got = M.iou_matrix([M.encode(a)], [M.encode(b), M.encode(a)])
    np.testing.assert_allclose(got, [[0.0, 1.0]])
    assert M.iou_matrix([], [M.encode(a)]).shape == (0, 1)
    assert M.iou_matrix([M.encode(a), M.encode(b)], []).shape == (2, 0)


def test_merge_is_logical_or():
    rng = np.random.default_rng(11)
    shape = (23, 37)
    masks = [rng.random(shape) < 0.2 for _ in range(4)]
    merged = M.merge([M.encode(m) for m in masks])
    assert merged["size"] == [23, 37]
    assert isinstance(merged["counts"], str)
    np.testing.assert_array_equal(M.decode(merged), np.logical_or.reduce(masks))
    np.testing.assert_array_equal(M.decode(M.merge([M.encode(masks[0])])), masks[0])


def test_polygons_round_trip_on_a_rectangle():
    h, w = 40, 60
    m = np.zeros((h, w), dtype=bool)
    y0, y1, x0, x1 = 10, 30, 5, 45  # rows 10..29, columns 5..44
    m[y0:y1, x0:x1] = True
    polys = M.to_polygons(m)
    assert len(polys) == 1
    p = polys[0]
    assert len(p) % 2 == 0 and len(p) >= 6
    xs, ys = np.asarray(p[0::2]), np.asarray(p[1::2])
    # the contour runs through the centres of the border pixels
    assert (xs.min(), xs.max(), ys.min(), ys.max()) == (x0, x1 - 1, y0, y1 - 1)
    back = M.from_polygons(polys, h, w)
    assert back["size"] == [h, w]
    got = M.decode(back)
    # rasterised back inside the original rectangle, losing at most one pixel row and column
    assert not np.any(got & ~m)
    assert m.sum() - got.sum() <= (y1 - y0) + (x1 - x0)
    assert M.area(back) == got.sum()


def test_from_polygons_unions_several_polygons():
    sq = lambda x, y, s: [x, y, x + s, y, x + s, y + s, x, y + s]  # noqa: E731
    rle = M.from_polygons([sq(2, 2, 10), sq(20, 5, 8)], 30, 40)
    m = M.decode(rle)
    assert m.shape == (30, 40)
    assert m[7, 7] and m[9, 24] and not m[20, 20]
    assert M.area(rle) == pytest.approx(100 + 64, abs=10)


def test_to_polygons_of_two_parts_and_empty():
    m = np.zeros((30, 30), bool)
    m[2:10, 2:10] = True
    m[15:25, 12:28] = True
    assert len(M.to_polygons(m)) == 2
    assert M.to_polygons(np.zeros((30, 30), bool)) == []


def test_shift_moves_and_clips_at_the_border():
    h, w = 12, 16
    m = np.zeros((h, w), dtype=bool)
    m[0:4, 12:16] = True  # touches the top and right edges
    m[8:12, 0:3] = True  # touches the bottom and left edges
    for dx, dy in [(3, 2), (-2, -5), (0, 0), (20, 0), (1.4, -0.6), (-1.6, 2.5)]:
        got = M.decode(M.shift(M.encode(m), dx, dy))
        rx, ry = int(round(dx)), int(round(dy))
        expected = np.zeros_like(m)
        for y, x in zip(*np.nonzero(m)):
            if 0 <= y + ry < h and 0 <= x + rx < w:
                expected[y + ry, x + rx] = True
        np.testing.assert_array_equal(got, expected, err_msg=f"shift {dx}, {dy}")
    # explicit: 3 px right clips the right-edge block to one column
    right = M.decode(M.shift(M.encode(m), 3, 0))
    assert right[0:4, 15].all() and not right[0:4, :15].any()
    assert right[8:12, 3:6].all()
    assert not M.decode(M.shift(M.encode(m), 0, 100)).any()


def test_malformed_rle_raises_value_error():
    m = np.ones((5, 5), dtype=bool)
    rle = M.encode(m)
    with pytest.raises(ValueError, match="4x4"):
        M.decode({"size": [4, 4], "counts": rle["counts"]})
    with pytest.raises(ValueError):
        M.decode({"size": [6, 5], "counts": rle["counts"]})
    with pytest.raises(ValueError):
        M.decode({"size": [3, 3], "counts": [2, 3]})
