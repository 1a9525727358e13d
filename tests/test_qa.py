"""Quality checks of label masks and predicted tracks, and their review queues."""

import json
import time

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from ethoflow.io import EthoflowError, tracktable
from ethoflow.io import masks as M
from ethoflow.io.labelme import write_labelme
from ethoflow.io.video import VideoWriter
from ethoflow.labels import qa
from ethoflow.labels.annotations import load_labelme

IDS = ["mouse1", "mouse2", "mouse3"]
H, W = 96, 128
SETTINGS = dict(max_overlap=0.2, area_ratio=[0.5, 2.0], max_jump=50.0, max_gap=1, review_limit=50)
KW = dict(max_overlap=0.2, area_ratio=(0.5, 2.0), max_jump=50.0, max_gap=1)
YY, XX = np.mgrid[:H, :W]


def disk(cx, cy, r=10, h=H, w=W):
    yy, xx = (YY, XX) if (h, w) == (H, W) else np.mgrid[:h, :w]
    return (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r


def home(k, f=0):
    """A clean position of identity k in frame f: far apart, moving slowly."""
    return 20 + 40 * k + 0.5 * np.sin(f / 5), 48 + 0.5 * np.cos(f / 5)


def row(f, identity, m, video="v", source="detected"):
    rle = M.encode(m)
    return dict(
        video=video,
        model="m",
        frame=f,
        time_s=f / 30,
        identity=identity,
        score=1.0,
        **tracktable.row_from_mask(rle),
        mask=rle,
        source=source,
    )


def table(n=6, change=None, drop=()):
    """A clean track table of n frames; ``change(f, k) -> (cx, cy, r)`` overrides a mask."""
    rows = []
    for f in range(n):
        for k, identity in enumerate(IDS):
            if (f, identity) in drop:
                continue
            cx, cy = home(k, f)
            r = 10
            if change is not None and change(f, k) is not None:
                cx, cy, r = change(f, k)
            rows.append(row(f, identity, disk(cx, cy, r)))
    return pd.DataFrame(rows)


def flags(q, check):
    return q[q["check"] == check]


def test_clean_table_has_no_flags():
    q = qa.check(table(), IDS, **KW)
    assert len(q) == 0 and list(q.columns) == qa.QA_COLUMNS
    assert set(qa.CHECKS) == {"overlap", "area", "missing", "duplicate", "jump"}


def test_overlap_names_the_pair():
    # mouse3 sits on mouse1 in frame 2, but near enough to not jump (max_jump large)
    t = table(change=lambda f, k: (home(0, f)[0] + 3, 48, 10) if (f, k) == (2, 2) else None)
    q = qa.check(t, IDS, **{**KW, "max_jump": 1000.0})
    ov = flags(q, "overlap")
    assert len(ov) == 1 and set(q["check"]) == {"overlap"}
    r = ov.iloc[0]
    assert r.frame == 2 and r.identity == "mouse1+mouse3" and r.limit == 0.2
    assert 0.6 < r.value < 1.0 and "mouse1 and mouse3" in r.detail
    # touching boxes but little overlap: no flag
    t = table(change=lambda f, k: (home(0, f)[0] + 18, 48, 10) if (f, k) == (2, 1) else None)
    assert len(flags(qa.check(t, IDS, **KW), "overlap")) == 0


def test_area_against_the_identity_median():
    sizes = {(3, 1): 16, (1, 0): 6}  # mouse2 2.6x its median area in frame 3, mouse1 0.4x in 1
    t = table(change=lambda f, k: (*home(k, f), sizes[f, k]) if (f, k) in sizes else None)
    q = qa.check(t, IDS, **KW)
    assert set(q["check"]) == {"area"}
    a = flags(q, "area").set_index("identity")
    assert sorted(zip(a["frame"], a.index)) == [(1, "mouse1"), (3, "mouse2")]
    assert a.at["mouse2", "value"] == pytest.approx(16**2 / 10**2, rel=0.1)
    assert a.at["mouse2", "limit"] == 2.0
    assert a.at["mouse1", "value"] == pytest.approx(6**2 / 10**2, rel=0.15)
    assert a.at["mouse1", "limit"] == 0.5
    # within the range: no flag
    t = table(change=lambda f, k: (*home(k, f), 12) if (f, k) == (3, 1) else None)
    assert len(qa.check(t, IDS, **KW)) == 0


def test_missing_and_duplicate():
    t = table(drop={(4, "mouse2")})
    q = qa.check(t, IDS, **KW)
    m = flags(q, "missing")
    assert list(zip(m["frame"], m["identity"])) == [(4, "mouse2")]
    assert set(q["check"]) == {"missing"}
    assert m.iloc[0]["name"] == "v_000004"
    # the frames to expect: beyond the table's
    q = qa.check(t, IDS, **KW, frames=range(8))
    assert sorted(flags(q, "missing")["frame"]) == [4, 6, 6, 6, 7, 7, 7]
    dup = pd.concat([t, t[(t.frame == 1) & (t.identity == "mouse3")]], ignore_index=True)
    q = qa.check(dup, IDS, **KW)
    d = flags(q, "duplicate")
    assert len(d) == 1 and d.iloc[0].identity == "mouse3" and d.iloc[0].value == 2
    assert len(flags(q, "overlap")) == 0  # a doubled identity is no pair of identities


def test_jump_scales_with_the_frame_gap():
    # mouse1 is absent in frames 2 and 3; frame 4 is 30 px away from frame 1
    moved = lambda f, k: (home(k, f)[0] + 30, 48, 10) if k == 0 and f >= 4 else None  # noqa: E731
    t = table(change=moved, drop={(2, "mouse1"), (3, "mouse1")})
    kw = {**KW, "max_jump": 9.0}
    # max_gap 1 and 2: frame 1 is too far back to compare with
    for gap in (1, 2):
        assert len(flags(qa.check(t, IDS, **{**kw, "max_gap": gap}), "jump")) == 0
    # max_gap 3: 30 px over 3 frames is within 12 px per frame, beyond 9 px per frame
    assert len(flags(qa.check(t, IDS, **{**kw, "max_jump": 12.0, "max_gap": 3}), "jump")) == 0
    j = flags(qa.check(t, IDS, **{**kw, "max_gap": 3}), "jump")
    assert len(j) == 1 and j.iloc[0].frame == 4 and j.iloc[0].identity == "mouse1"
    assert j.iloc[0].limit == 27.0 and j.iloc[0].value == pytest.approx(30, abs=1.5)
    assert "from frame 1" in j.iloc[0].detail
    # one frame apart: the unscaled limit
    t = table(change=lambda f, k: (home(k, f)[0] + 20, 48, 10) if k == 0 and f >= 3 else None)
    j = flags(qa.check(t, IDS, **{**KW, "max_jump": 15.0}), "jump")
    assert list(j["frame"]) == [3] and j.iloc[0].limit == 15.0
    assert len(flags(qa.check(t, IDS, **{**KW, "max_jump": 25.0}), "jump")) == 0


def test_qa_table_survives_parquet(tmp_path):
    t = table(drop={(1, "mouse2")})
    t = pd.concat([t, t[(t.frame == 0) & (t.identity == "mouse1")]], ignore_index=True)
    q = qa.check(t, IDS, **KW)
    assert len(q) == 2
    for name, df in (("full", q), ("empty", qa.check(table(), IDS, **KW))):
        qa.write(df, tmp_path / f"{name}.parquet")
        schema = pq.read_schema(tmp_path / f"{name}.parquet")
        assert [f.name for f in schema] == qa.QA_COLUMNS
        assert str(schema.field("frame").type) == "int64"
        assert str(schema.field("value").type) == "double"
        back = qa.read_qa(tmp_path / f"{name}.parquet")
        pd.testing.assert_frame_equal(back, df, check_dtype=False)
        assert back["frame"].dtype == np.int64 and back["value"].dtype == np.float64
        assert len(pd.read_parquet(tmp_path / f"{name}.parquet")) == len(df)  # as report reads


def test_qa_track_table_missing_over_n_frames(tmp_path):
    t = table(n=5, drop={(2, "mouse1")})
    t.loc[(t.frame == 3) & (t.identity == "mouse2"), "source"] = "interpolated"
    dest = tmp_path / "qa" / "m" / "v.parquet"
    q = qa.qa_track_table(t, IDS, dest, settings=SETTINGS, n_frames=7)
    back = qa.read_qa(dest)
    assert len(back) == len(q)
    m = flags(back, "missing")
    assert sorted(zip(m["frame"], m["identity"])) == [(2, "mouse1")] + [
        (f, i) for f in (5, 6) for i in IDS
    ]
    assert set(back["check"]) == {"missing"}  # the interpolated row counts as present
    # without n_frames: only frames in the table; an empty table is fine too
    q = qa.qa_track_table(t, IDS, dest, settings=SETTINGS)
    assert list(flags(q, "missing")["frame"]) == [2]
    q = qa.qa_track_table(tracktable.empty(), IDS, dest, settings=SETTINGS, n_frames=2, video="v")
    assert len(q) == 6 and set(q["check"]) == {"missing"}
    assert set(q["name"]) == {"v_000000", "v_000001"}


def test_qa_track_table_is_fast_on_a_long_table(tmp_path):
    """1500 frames x 3 identities, every pair of boxes overlapping (masks compared in each)."""
    rows = []
    base = [M.encode(disk(40 + 10 * k, 48, 12)) for k in range(3)]
    geo = [tracktable.row_from_mask(r) for r in base]
    for f in range(1500):
        for k, identity in enumerate(IDS):
            rows.append(
                dict(
                    video="v",
                    model="m",
                    frame=f,
                    time_s=f / 30,
                    identity=identity,
                    score=1.0,
                    **geo[k],
                    mask=base[k],
                    source="detected",
                )
            )
    t0 = time.perf_counter()
    q = qa.qa_track_table(
        pd.DataFrame(rows), IDS, tmp_path / "q.parquet", settings=SETTINGS, n_frames=1500
    )
    elapsed = time.perf_counter() - t0
    assert elapsed < 3.0, elapsed
    ov = flags(q, "overlap")
    assert len(q) == len(ov) == 3000  # 1-2 and 2-3 overlap; 1-3 boxes meet, masks barely
    assert set(ov["identity"]) == {"mouse1+mouse2", "mouse2+mouse3"}


def test_settings_are_validated():
    assert qa.settings_of(None)["area_ratio"] == (0.5, 2.0)
    assert qa.settings_of({"max_gap": 2, "future_key": 1})["max_gap"] == 2  # ignored, warned
    with pytest.raises(EthoflowError, match="area_ratio"):
        qa.settings_of({"area_ratio": [2.0, 0.5]})


def test_broken_qa_file_names_it(tmp_path):
    bad = tmp_path / "not_parquet.parquet"
    bad.write_text("hello")
    with pytest.raises(EthoflowError, match="not_parquet.parquet"):
        qa.read_qa(bad)
    other = tmp_path / "tracks.parquet"
    tracktable.write(table(n=2), other)
    with pytest.raises(EthoflowError, match=r"tracks\.parquet: not a QA table"):
        qa.read_qa(other)
    with pytest.raises(EthoflowError, match="missing.parquet"):
        qa.read_qa(tmp_path / "missing.parquet")


# --------------------------------------------------------------------------------------------
# labels


def image_for(seed, h=H, w=W):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def write_label(folder, name, masks, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    img = image_for(seed)
    Image.fromarray(img).save(folder / f"{name}.png")
    items = [(k, masks[k]) for k in sorted(masks)]
    write_labelme(
        folder / f"{name}.json", items, image_path=folder / f"{name}.png", image_shape=img.shape
    )
    return img


def iou(a, b):
    return (a & b).sum() / max((a | b).sum(), 1)


@pytest.fixture
def labels(tmp_path):
    """Labelled frames of video "va": 10 and 11 clean, 15 with an overlap, 20 lacking mouse3,
    21 with mouse1 too large and mouse2 36 px from frame 20; "vb_000005" clean."""
    d = tmp_path / "labels"
    clean = {i: disk(*home(k), 10) for k, i in enumerate(IDS)}
    write_label(d, "va_000010", clean, seed=10)
    write_label(d, "va_000011", clean, seed=11)
    write_label(d, "va_000015", {**clean, "mouse3": disk(home(0)[0] + 4, 48, 10)}, seed=15)
    write_label(d, "va_000020", {i: m for i, m in clean.items() if i != "mouse3"}, seed=20)
    big, up = disk(*home(0), 16), disk(home(1)[0], 12, 10)
    write_label(d, "va_000021", {**clean, "mouse1": big, "mouse2": up}, seed=21)
    write_label(d, "vb_000005", clean, seed=5)
    return d


def test_qa_labels_flags_and_review_queue(tmp_path, labels):
    table_dest, review = tmp_path / "qa" / "labels.parquet", tmp_path / "qa" / "review"
    settings = {**SETTINGS, "max_jump": 30.0}
    q = qa.qa_labels([labels], IDS, table_dest, review, settings=settings)
    got = sorted(zip(q["name"], q["check"], q["identity"]))
    assert got == [
        ("va_000015", "overlap", "mouse1+mouse3"),
        ("va_000020", "missing", "mouse3"),
        ("va_000021", "area", "mouse1"),
        ("va_000021", "jump", "mouse2"),
    ]
    assert q.loc[q.check == "jump", "value"].iloc[0] == pytest.approx(36, abs=1.5)
    assert {"va_000010", "va_000011", "vb_000005"}.isdisjoint(q["name"])
    assert qa.read_qa(table_dest).shape == q.shape
    queue = pd.read_csv(review / "queue.csv")
    assert list(queue.columns) == qa.QUEUE_COLUMNS
    assert queue["name"].iloc[0] == "va_000021"  # most flags first
    assert list(queue["name"]) == ["va_000021", "va_000015", "va_000020"]
    assert list(queue["frame"]) == [21, 15, 20]
    assert queue["checks"].iloc[0] == "area jump" and "moved" in queue["details"].iloc[0]
    assert sorted(p.name for p in review.glob("*.json")) == [
        f"{n}.json" for n in sorted(queue.name)
    ]
    # the review files are complete label files: same masks, identities and image
    for name in queue["name"]:
        lf = load_labelme(review / f"{name}.json", IDS)
        orig = load_labelme(labels / f"{name}.json", IDS)
        assert lf.name == name and np.array_equal(lf.image, orig.image)
        assert sorted(i for i, _ in lf.instances) == sorted(i for i, _ in orig.instances)
        mine, theirs = dict(lf.instances), dict(orig.instances)
        for identity, rle in theirs.items():
            assert iou(M.decode(mine[identity]), M.decode(rle)) > 0.9, (name, identity)
        doc = json.loads((review / f"{name}.json").read_text())
        assert doc["imagePath"] == f"{name}.png" and doc["imageData"]
        assert doc["version"] == "5.4.1"
        assert np.array_equal(np.asarray(Image.open(review / f"{name}.png")), orig.image)
        # the JSON alone (copied into a labels folder) is enough
        alone = tmp_path / "alone" / f"{name}.json"
        alone.parent.mkdir(exist_ok=True)
        alone.write_text((review / f"{name}.json").read_text())
        assert np.array_equal(load_labelme(alone, IDS).image, orig.image)


def test_qa_labels_review_limit_worst_first(tmp_path, labels):
    review = tmp_path / "review"
    qa.qa_labels(
        [labels],
        IDS,
        tmp_path / "t.parquet",
        review,
        settings={**SETTINGS, "max_jump": 30.0, "review_limit": 2},
    )
    queue = pd.read_csv(review / "queue.csv")
    assert list(queue["name"]) == ["va_000021", "va_000015"]
    assert sorted(p.stem for p in review.glob("*.json")) == ["va_000015", "va_000021"]
    assert sorted(p.stem for p in review.glob("*.png")) == ["va_000015", "va_000021"]


def test_qa_labels_clean_and_duplicate_across_inputs(tmp_path):
    d = tmp_path / "labels"
    clean = {i: disk(*home(k), 10) for k, i in enumerate(IDS)}
    write_label(d, "va_000010", clean, seed=10)
    review = tmp_path / "review"
    (review).mkdir()
    (review / "stale.json").write_text("{}")
    q = qa.qa_labels([d], IDS, tmp_path / "t.parquet", review, settings=SETTINGS)
    assert len(q) == 0 and list(q.columns) == qa.QA_COLUMNS
    assert sorted(p.name for p in review.iterdir()) == ["queue.csv"]  # replaced whole
    assert len(pd.read_csv(review / "queue.csv")) == 0
    # the same frame again, as a COCO file: mouse2 twice (load_labels would refuse)
    img = image_for(10)
    Image.fromarray(img).save(tmp_path / "va_000010.png")
    coco = {
        "images": [dict(id=1, file_name="va_000010.png", height=H, width=W)],
        "annotations": [
            dict(id=1, image_id=1, category_id=2, segmentation=M.encode(clean["mouse2"]))
        ],
        "categories": [dict(id=i + 1, name=n) for i, n in enumerate(IDS)],
    }
    (tmp_path / "extra.coco.json").write_text(json.dumps(coco))
    q = qa.qa_labels(
        [d / "va_000010.json", tmp_path / "extra.coco.json"],
        IDS,
        tmp_path / "t.parquet",
        review,
        settings=SETTINGS,
    )
    dup = flags(q, "duplicate")
    assert list(zip(dup["name"], dup["identity"], dup["value"])) == [("va_000010", "mouse2", 2)]
    assert (review / "va_000010.json").exists()
    # both instances are in the review file; the loader refuses it until one is removed
    with pytest.raises(EthoflowError, match="appears twice"):
        load_labelme(review / "va_000010.json", IDS)


# --------------------------------------------------------------------------------------------
# tracks


def test_review_tracks_writes_flagged_frames(tmp_path):
    n = 8
    video = tmp_path / "v.mp4"
    with VideoWriter(video, 30.0, W, H) as w:
        for f in range(n):
            w.write(np.full((H, W, 3), 20 * f, dtype=np.uint8))
    # frame 3: mouse3 on mouse1; frame 5: mouse2 missing
    t = table(
        n=n,
        change=lambda f, k: (home(0, f)[0] + 3, 48, 10) if (f, k) == (3, 2) else None,
        drop={(5, "mouse2")},
    )
    tracks, qa_path = tmp_path / "tracks.parquet", tmp_path / "qa.parquet"
    tracktable.write(t, tracks)
    qa.qa_track_table(t, IDS, qa_path, settings={**SETTINGS, "max_jump": 1000.0}, n_frames=n)
    out = tmp_path / "review" / "m" / "v"
    queue = qa.review_tracks(
        tracks, qa_path, video, out, video="v", identities=IDS, limit=SETTINGS["review_limit"]
    )
    assert list(queue["name"]) == ["v_000003", "v_000005"]
    csv = pd.read_csv(out / "queue.csv")
    assert list(csv["frame"]) == [3, 5] and list(csv["checks"]) == ["overlap", "missing"]
    assert sorted(p.name for p in out.glob("*.json")) == ["v_000003.json", "v_000005.json"]
    lf = load_labelme(out / "v_000005.json", IDS)
    assert sorted(i for i, _ in lf.instances) == ["mouse1", "mouse3"]
    assert lf.image.shape == (H, W, 3) and abs(int(lf.image.mean()) - 100) <= 3
    truth = t[t.frame == 3].set_index("identity")["mask"]
    lf = load_labelme(out / "v_000003.json", IDS)
    assert sorted(i for i, _ in lf.instances) == IDS
    for identity, rle in lf.instances:
        assert iou(M.decode(rle), M.decode(truth[identity])) > 0.9
    # limit 1: the worst only; limit 0: the folder with an empty queue
    qa.review_tracks(tracks, qa_path, video, out, video="v", identities=IDS, limit=1)
    assert sorted(p.name for p in out.iterdir()) == ["queue.csv", "v_000003.json", "v_000003.png"]
    qa.review_tracks(tracks, qa_path, video, out, video="v", identities=IDS, limit=0)
    assert sorted(p.name for p in out.iterdir()) == ["queue.csv"]
    # a broken QA file: the error names it
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1 not really")
    with pytest.raises(EthoflowError, match="broken.parquet"):
        qa.review_tracks(tracks, broken, video, out, video="v", identities=IDS, limit=5)
    # a QA table of another video
    with pytest.raises(EthoflowError, match="expected only 'w'"):
        qa.review_tracks(tracks, qa_path, video, out, video="w", identities=IDS, limit=5)
