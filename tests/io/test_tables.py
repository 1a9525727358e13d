"""Direct tests of ethoflow.io.tracktable (the track table) and ethoflow.io.detections."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ethoflow.io import masks as M
from ethoflow.io import tracktable as T
from ethoflow.io.detections import DETECTION_SCHEMA, read_detections, read_infer_stats
from ethoflow.io.files import EthoflowError

HW = (20, 30)


def _box_mask(y0, y1, x0, x1, shape=HW):
    m = np.zeros(shape, dtype=bool)
    m[y0:y1, x0:x1] = True
    return m


def _track_df() -> pd.DataFrame:
    """Two identities over three frames, rows deliberately out of order."""
    rows = []
    for frame in (2, 0, 1):
        for ident, dx in (("mouse_b", 15), ("mouse_a", 0)):
            m = _box_mask(2 + frame, 8 + frame, 1 + dx, 6 + dx)
            rows.append(
                dict(
                    video="v1",
                    model="m1",
                    frame=frame,
                    time_s=frame / 25.0,
                    identity=ident,
                    score=0.5 + 0.1 * frame if ident == "mouse_a" else np.nan,
                    **T.geometry(m),
                    mask=M.encode(m),
                    source="detected" if frame != 1 else "interpolated",
                )
            )
    return pd.DataFrame(rows)


def test_schema_columns():
    assert T.COLUMNS == [f.name for f in T.TRACK_SCHEMA]
    assert {"frame", "identity", "mask", "source", "area"} <= set(T.COLUMNS)
    assert list(T.empty().columns) == T.COLUMNS
    assert len(T.empty()) == 0


def test_write_read_round_trip(tmp_path):
    df = _track_df()
    path = tmp_path / "t" / "tracks.parquet"
    T.write(df, path)
    assert [p.name for p in path.parent.iterdir()] == ["tracks.parquet"]
    back = T.read(path)
    assert list(back.columns) == T.COLUMNS
    assert back["frame"].dtype == np.int64
    assert back["area"].dtype == np.int64
    for c in ("time_s", "score", "x1", "y1", "x2", "y2", "cx", "cy"):
        assert back[c].dtype == np.float64, c
    for c in ("video", "model", "identity", "source"):
        assert back[c].map(type).eq(str).all(), c
    assert pq.read_schema(path).remove_metadata().equals(T.TRACK_SCHEMA.remove_metadata())
    # sorted by frame, then identity
    assert list(zip(back["frame"], back["identity"])) == [
        (f, i) for f in (0, 1, 2) for i in ("mouse_a", "mouse_b")
    ]
    expected = df.sort_values(["frame", "identity"]).reset_index(drop=True)
    for c in T.COLUMNS:
        if c == "mask":
            continue
        pd.testing.assert_series_equal(back[c], expected[c], check_dtype=False, check_names=False)
    assert back["score"].isna().sum() == 3
    for got, want in zip(back["mask"], expected["mask"]):
        assert list(got["size"]) == want["size"]
        assert got["counts"] == want["counts"]
        np.testing.assert_array_equal(M.decode(got), M.decode(want))
    assert T.read_stats(path) == {}


def test_write_keeps_null_masks(tmp_path):
    df = _track_df()
    df.loc[0, "mask"] = None
    T.write(df, tmp_path / "n.parquet")
    back = T.read(tmp_path / "n.parquet")
    assert back["mask"].isna().sum() == 1


def test_to_arrow_rejects_bad_tables():
    df = _track_df()
    with pytest.raises(ValueError, match="area"):
        T.to_arrow(df.drop(columns=["area"]))
    bad = df.copy()
    bad.loc[3, "source"] = "guessed"
    with pytest.raises(ValueError, match="guessed"):
        T.to_arrow(bad)
    dup = pd.concat([df, df.iloc[[2]]], ignore_index=True)
    with pytest.raises(ValueError, match="more than one row"):
        T.to_arrow(dup)
    # the same (frame, identity) in another video or model is not a duplicate
    other = df.iloc[[2]].assign(video="v2")
    assert T.to_arrow(pd.concat([df, other], ignore_index=True)).num_rows == len(df) + 1
    # extra columns are dropped, not an error
    assert T.to_arrow(df.assign(extra=1)).column_names == T.COLUMNS


def test_write_rejects_without_leaving_a_file(tmp_path):
    with pytest.raises(ValueError):
        T.write(_track_df().drop(columns=["mask"]), tmp_path / "x.parquet")
    assert list(tmp_path.iterdir()) == []


def test_read_errors_name_the_file(tmp_path):
    missing = tmp_path / "missing.parquet"
    with pytest.raises(EthoflowError) as e:
        T.read(missing)
    assert str(missing) in str(e.value)
    text = tmp_path / "text.parquet"
    text.write_text("frame,identity\n0,a\n")
    with pytest.raises(EthoflowError, match="Parquet") as e:
        T.read(text)
    assert str(text) in str(e.value)
    partial = tmp_path / "partial.parquet"
    pq.write_table(pa.table({"frame": [0, 1], "identity": ["a", "b"]}), partial)
    with pytest.raises(EthoflowError, match="missing columns") as e:
        T.read(partial)
    assert str(partial) in str(e.value)
    assert "mask" in str(e.value)
    for p in (missing, text):
        with pytest.raises(EthoflowError) as e:
            T.read_stats(p)
        assert str(p) in str(e.value)


def test_stats_round_trip(tmp_path):
    stats = {
        "infer_frames": 120,
        "infer_seconds": 3.25,
        "fps": float("nan"),
        "inf": float("inf"),
        "np": np.float32(1.5),
        "nested": {"a": [1, np.int64(2), float("nan")], "device": "cpu"},
    }
    expected = {
        "infer_frames": 120,
        "infer_seconds": 3.25,
        "fps": None,
        "inf": None,
        "np": 1.5,
        "nested": {"a": [1, 2, None], "device": "cpu"},
    }
    path = tmp_path / "s.parquet"
    T.write(_track_df(), path, stats=stats)
    assert T.read_stats(path) == expected
    assert len(T.read(path)) == 6  # stats never change the rows
    # with_stats on a table keeps the schema's own metadata
    table = T.with_stats(T.to_arrow(_track_df()), stats)
    assert b"description" in table.schema.metadata
    pq.write_table(table, tmp_path / "w.parquet")
    assert T.read_stats(tmp_path / "w.parquet") == expected
    # replacing stats replaces them
    table2 = T.with_stats(table, {"x": 1})
    pq.write_table(table2, tmp_path / "w2.parquet")
    assert T.read_stats(tmp_path / "w2.parquet") == {"x": 1}


def test_read_stats_without_or_with_bad_stats(tmp_path):
    plain = tmp_path / "plain.parquet"
    pq.write_table(pa.table({"a": [1]}), plain)
    assert T.read_stats(plain) == {}
    for raw in (b"not json", b"[1, 2]"):
        p = tmp_path / f"bad{len(raw)}.parquet"
        pq.write_table(pa.table({"a": [1]}).replace_schema_metadata({T.STATS_KEY: raw}), p)
        assert T.read_stats(p) == {}


def test_geometry_of_a_small_mask():
    m = np.zeros((10, 12), dtype=bool)
    m[2:5, 3:7] = True  # rows 2..4, columns 3..6
    g = T.geometry(m)
    assert g == dict(x1=3.0, y1=2.0, x2=7.0, y2=5.0, cx=5.0, cy=3.5, area=12)
    assert T.row_from_mask(M.encode(m)) == g
    # the box agrees with the RLE box
    assert (g["x1"], g["y1"], g["x2"], g["y2"]) == M.to_bbox(M.encode(m))
    single = np.zeros((10, 12), dtype=bool)
    single[9, 0] = True
    assert T.geometry(single) == dict(x1=0.0, y1=9.0, x2=1.0, y2=10.0, cx=0.5, cy=9.5, area=1)
    odd = np.zeros((10, 12), dtype=bool)
    odd[0, 0] = odd[0, 1] = odd[3, 1] = True
    g = T.geometry(odd)
    assert g["cx"] == pytest.approx(2 / 3 + 0.5)
    assert g["cy"] == pytest.approx(1 + 0.5)


def test_geometry_of_an_empty_mask():
    g = T.geometry(np.zeros((5, 7), dtype=bool))
    assert g["area"] == 0
    for k in ("x1", "y1", "x2", "y2", "cx", "cy"):
        assert math.isnan(g[k]), k
    g2 = T.row_from_mask(M.encode(np.zeros((5, 7), dtype=bool)))
    assert g2["area"] == 0 and math.isnan(g2["cx"])


def test_touching_frames():
    a = _box_mask(5, 15, 0, 10)  # columns 0..9
    gap = _box_mask(5, 15, 11, 20)  # columns 11..19: one pixel between them
    far = _box_mask(5, 15, 25, 30)
    over = _box_mask(5, 15, 8, 20)
    rows = [
        (0, "a", M.encode(a)),
        (0, "b", M.encode(gap)),
        (1, "a", M.encode(a)),
        (1, "b", M.encode(far)),
        (2, "a", M.encode(a)),
        (2, "b", M.encode(over)),
        (3, "a", M.encode(a)),
        (3, "b", None),
        (4, "a", M.encode(a)),
        (4, "b", np.nan),
        (4, "c", M.encode(gap)),
        (5, "a", M.encode(a)),
    ]
    df = pd.DataFrame(rows, columns=["frame", "identity", "mask"])
    assert T.touching_frames(df, dilate=2) == {0, 2, 4}
    assert T.touching_frames(df, dilate=1) == {0, 2, 4}
    assert T.touching_frames(df, dilate=0) == {2}
    assert T.touching_frames(df.iloc[0:0]) == set()
    # a gap of 5 px needs a dilation of 3 (both masks grow)
    wide = _box_mask(5, 15, 15, 20)
    df2 = pd.DataFrame([(7, "a", M.encode(a)), (7, "b", M.encode(wide))], columns=df.columns)
    assert T.touching_frames(df2, dilate=2) == set()
    assert T.touching_frames(df2, dilate=3) == {7}


def test_touching_frames_reads_back_from_parquet(tmp_path):
    df = _track_df()
    df.loc[df["frame"] == 1, "mask"] = df.loc[df["frame"] == 1, "mask"].map(
        lambda r: M.encode(np.ones(HW, bool))
    )
    T.write(df, tmp_path / "t.parquet")
    back = T.read(tmp_path / "t.parquet")
    assert T.touching_frames(back, dilate=0) == {1}


# --- detection shards ----------------------------------------------------------------------


def _shard(frames, video="v1", dets=2):
    rows = []
    for f in frames:
        for d in reversed(range(dets)):
            m = _box_mask(d, d + 4, 2 * d + f % 5, 2 * d + f % 5 + 3)
            x1, y1, x2, y2 = M.to_bbox(M.encode(m))
            rows.append(
                dict(
                    video=video,
                    frame=f,
                    det=d,
                    identity=f"id{d}",
                    score=0.9 - 0.1 * d,
                    class_scores=[0.9 - 0.1 * d, 0.1 + 0.1 * d],
                    x1=x1,
                    y1=y1,
                    x2=x2,
                    y2=y2,
                    mask_area=int(m.sum()),
                    mask=M.encode(m),
                )
            )
    return pa.Table.from_pylist(rows, schema=DETECTION_SCHEMA)


def _write_shard(path, frames, stats=None, **kw):
    table = _shard(frames, **kw)
    if stats is not None:
        table = T.with_stats(table, stats)
    pq.write_table(table, path)
    return path


def test_read_detections_concatenates_in_frame_order(tmp_path):
    late = _write_shard(tmp_path / "late.parquet", [12, 10, 11], {"frames": 3, "seconds": 1.5})
    early = _write_shard(tmp_path / "early.parquet", [0, 2, 1], {"frames": 3, "seconds": 0.5})
    df = read_detections([late, early])
    assert list(df.columns) == [f.name for f in DETECTION_SCHEMA]
    assert len(df) == 12
    assert list(zip(df["frame"], df["det"])) == [
        (f, d) for f in (0, 1, 2, 10, 11, 12) for d in (0, 1)
    ]
    assert df.index.tolist() == list(range(12))
    assert df["frame"].dtype == np.int64 and df["mask_area"].dtype == np.int64
    for rle, a in zip(df["mask"], df["mask_area"]):
        assert M.area(rle) == a
    np.testing.assert_allclose(df["class_scores"].iloc[1], [0.8, 0.2], rtol=1e-6)
    other = read_detections([early, late])
    for c in ("video", "frame", "det", "identity", "score", "mask_area"):
        assert other[c].tolist() == df[c].tolist(), c
    assert [r["counts"] for r in other["mask"]] == [r["counts"] for r in df["mask"]]


def test_read_detections_empty_and_missing(tmp_path):
    df = read_detections([])
    assert len(df) == 0 and list(df.columns) == [f.name for f in DETECTION_SCHEMA]
    missing = tmp_path / "nope.parquet"
    with pytest.raises(EthoflowError) as e:
        read_detections([missing])
    assert str(missing) in str(e.value)


def test_read_detections_unreadable_shard(tmp_path):
    good = _write_shard(tmp_path / "good.parquet", [0, 1])
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"PAR1 garbage, not a parquet file at all")
    with pytest.raises(EthoflowError, match="cannot read detections") as e:
        read_detections([good, bad])
    assert str(bad) in str(e.value)
    assert str(good) not in str(e.value)


def test_read_detections_wrong_types(tmp_path):
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"frame": ["zero"], "det": [0]}), wrong)
    with pytest.raises(EthoflowError) as e:
        read_detections([wrong])
    assert str(wrong) in str(e.value)


def test_read_detections_missing_columns(tmp_path):
    wrong = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"frame": [0], "det": [0]}), wrong)
    with pytest.raises(EthoflowError, match="missing columns") as e:
        read_detections([wrong])
    assert str(wrong) in str(e.value)


def test_read_infer_stats(tmp_path):
    a = _write_shard(
        tmp_path / "a.parquet", [0, 1, 2], {"frames": 3, "seconds": 1.5, "device": "cpu"}
    )
    b = _write_shard(tmp_path / "b.parquet", [3, 4], {"frames": 5, "seconds": 0.5})
    none = _write_shard(tmp_path / "none.parquet", [5, 6])
    nan = _write_shard(tmp_path / "nan.parquet", [7], {"frames": 1, "seconds": float("nan")})
    neg = _write_shard(tmp_path / "neg.parquet", [8], {"frames": -1, "seconds": 1.0})
    junk = _write_shard(tmp_path / "junk.parquet", [9], {"frames": "many", "seconds": 1.0})
    got = read_infer_stats([a, b, none, nan, neg, junk])
    assert got == {"frames": 8, "seconds": 2.0, "fps": 4.0}
    assert read_infer_stats([a]) == {"frames": 3, "seconds": 1.5, "fps": 2.0}
    assert read_infer_stats([none]) == {"frames": None, "seconds": None, "fps": None}
    assert read_infer_stats([]) == {"frames": None, "seconds": None, "fps": None}
    zero = _write_shard(tmp_path / "zero.parquet", [0], {"frames": 0, "seconds": 0})
    assert read_infer_stats([zero]) == {"frames": 0, "seconds": 0.0, "fps": None}
    # the statistics come from the metadata only: they never depend on the rows
    assert len(read_detections([a, b, none])) == 2 * 7
