"""Bout smoothing, the Predictions and Bout tables, time budgets and their export, on hand-made
cases whose answers are known exactly."""

import importlib.util

import numpy as np
import pandas as pd
import pytest

from ethoflow.behaviour import bouts as B
from ethoflow.io import EthoflowError

FPS = 10.0
BEH = ["walk", "groom"]
CLASSES = ["walk", "groom", "none"]
NONE = 2


def rle(*runs):
    return np.concatenate([np.full(n, v) for v, n in runs])


# --------------------------------------------------------------------------------------------
# smoothing


def test_gap_merge_fills_short_gaps_between_the_same_behaviour():
    x = rle((0, 10), (NONE, 2), (0, 10), (NONE, 3), (0, 10))
    out = B.smooth_labels(x, min_bout_frames=1, merge_gap_frames=3, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 22), (NONE, 3), (0, 10)))  # 2 < 3, 3 is not
    # a gap holding another behaviour is filled as well
    x = rle((0, 10), (1, 1), (NONE, 1), (0, 10))
    out = B.smooth_labels(x, min_bout_frames=1, merge_gap_frames=3, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 22)))
    # background runs are not a behaviour: a short behaviour between two is not "merged over"
    x = rle((NONE, 5), (0, 1), (NONE, 5))
    out = B.smooth_labels(x, min_bout_frames=1, merge_gap_frames=3, background=NONE)
    np.testing.assert_array_equal(out, x)


def test_min_bout_goes_to_the_longer_neighbour():
    x = rle((0, 10), (1, 3), (NONE, 20))
    out = B.smooth_labels(x, min_bout_frames=4, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 10), (NONE, 23)))
    x = rle((0, 30), (1, 3), (NONE, 20))
    out = B.smooth_labels(x, min_bout_frames=4, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 33), (NONE, 20)))
    # tie: the earlier neighbour; at an end: the only neighbour
    x = rle((0, 10), (1, 2), (NONE, 10), (1, 2))
    out = B.smooth_labels(x, min_bout_frames=4, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 12), (NONE, 12)))
    # the shortest goes first, neighbours that come to touch join: 1-frame flicker inside a bout
    x = rle((0, 10), (1, 1), (0, 2), (NONE, 10))
    out = B.smooth_labels(x, min_bout_frames=4, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, rle((0, 13), (NONE, 10)))
    # background runs are never removed
    x = rle((0, 10), (NONE, 1), (1, 10))
    out = B.smooth_labels(x, min_bout_frames=4, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, x)


def test_gap_merge_before_min_bout():
    # two 3-frame bouts with a 1-frame gap: merged to 7 frames, which survives min_bout 5
    x = rle((NONE, 5), (0, 3), (NONE, 1), (0, 3), (NONE, 5))
    out = B.smooth_labels(x, min_bout_frames=5, merge_gap_frames=2, background=NONE)
    np.testing.assert_array_equal(out, rle((NONE, 5), (0, 7), (NONE, 5)))
    out = B.smooth_labels(x, min_bout_frames=5, merge_gap_frames=1, background=NONE)
    np.testing.assert_array_equal(out, rle((NONE, 17)))


def test_multilabel_smoothing_per_column():
    a = rle((1, 5), (0, 2), (1, 5), (0, 6))
    b = rle((0, 3), (1, 2), (0, 13))
    out = B.smooth_labels(np.c_[a, b], min_bout_frames=3, merge_gap_frames=3)
    np.testing.assert_array_equal(out[:, 0], rle((1, 12), (0, 6)))
    np.testing.assert_array_equal(out[:, 1], np.zeros(18))
    assert out.dtype == np.c_[a, b].dtype


def test_smoothing_edge_cases():
    assert B.smooth_labels(np.zeros(0, int), min_bout_frames=3, merge_gap_frames=3).size == 0
    one = np.full(2, 0)
    np.testing.assert_array_equal(
        B.smooth_labels(one, min_bout_frames=5, merge_gap_frames=3, background=NONE), one
    )


# --------------------------------------------------------------------------------------------
# predictions


def probs_of(ids, n_classes=3):
    p = np.full((len(ids), n_classes), 0.1, dtype=np.float32)
    p[np.arange(len(ids)), ids] = 0.8
    return p


def test_predictions_table_exclusive():
    ids = rle((0, 10), (NONE, 1), (0, 5), (1, 1), (NONE, 10))
    frames = np.arange(100, 100 + len(ids))
    t = B.predictions_table(
        "v",
        "a",
        frames,
        probs_of(ids),
        CLASSES,
        BEH,
        True,
        fps=FPS,
        min_bout_s=0.3,
        merge_gap_s=0.2,
    )
    assert list(t.columns) == [
        "video",
        "animal",
        "frame",
        "time_s",
        "prob_walk",
        "prob_groom",
        "prob_none",
        "walk",
        "groom",
        "label",
    ]
    assert t["frame"].dtype == np.int64 and t["walk"].dtype == np.int8
    assert t["prob_walk"].dtype == np.float32
    np.testing.assert_allclose(t["time_s"], frames / FPS)
    np.testing.assert_array_equal(t["walk"], rle((1, 17), (0, 10)))  # gap filled
    assert t["groom"].sum() == 0  # 1 frame < 3: given to the longer neighbour (walk)
    assert list(t["label"].iloc[[0, 16, 17]]) == ["walk", "walk", "none"]


def test_predictions_table_does_not_merge_across_missing_frames():
    ids = rle((0, 10), (NONE, 1), (0, 10))
    frames = np.r_[np.arange(10), np.arange(50, 61)]  # the gap frame is the first after a jump
    t = B.predictions_table(
        "v",
        "a",
        frames,
        probs_of(ids),
        CLASSES,
        BEH,
        True,
        fps=FPS,
        min_bout_s=0.0,
        merge_gap_s=0.5,
    )
    assert t["walk"].sum() == 20


def test_predictions_table_multilabel():
    p = np.zeros((12, 2), dtype=np.float32)
    p[:, 0] = rle((0.9, 6), (0.2, 1), (0.7, 5))
    p[:, 1] = rle((0.1, 2), (0.5, 8), (0.1, 2))  # 0.5 >= threshold
    t = B.predictions_table(
        "v", "a", np.arange(12), p, BEH, BEH, False, fps=FPS, min_bout_s=0.2, merge_gap_s=0.2
    )
    assert "prob_none" not in t.columns
    np.testing.assert_array_equal(t["walk"], np.ones(12))
    np.testing.assert_array_equal(t["groom"], rle((0, 2), (1, 8), (0, 2)))
    assert list(t["label"].iloc[[0, 2]]) == ["walk", "walk+groom"]
    t = B.predictions_table(
        "v",
        "a",
        np.arange(12),
        p,
        BEH,
        BEH,
        False,
        fps=FPS,
        min_bout_s=0.2,
        merge_gap_s=0.2,
        threshold=0.95,
    )
    assert (t["label"] == "none").all()


def test_predictions_table_checks_shapes():
    with pytest.raises(EthoflowError, match="v/a"):
        B.predictions_table(
            "v",
            "a",
            np.arange(5),
            np.zeros((4, 3)),
            CLASSES,
            BEH,
            True,
            fps=FPS,
            min_bout_s=0.2,
            merge_gap_s=0.2,
        )
    with pytest.raises(EthoflowError, match="none"):
        B.predictions_table(
            "v",
            "a",
            np.arange(5),
            np.zeros((5, 2)),
            BEH,
            BEH,
            True,
            fps=FPS,
            min_bout_s=0.2,
            merge_gap_s=0.2,
        )


# --------------------------------------------------------------------------------------------
# bouts


def frame_table():
    """Animal a: walk 2-5, 8-9 (frame 10 missing, walk again 11-12), groom 5-7; animal b: groom
    0-2. Frame label table style (no video column)."""
    rows = []
    for f in range(14):
        if f == 10:
            continue
        rows.append(
            dict(animal="a", frame=f, walk=int(2 <= f < 6 or 8 <= f <= 12), groom=int(5 <= f < 8))
        )
    for f in range(4):
        rows.append(dict(animal="b", frame=f, walk=0, groom=int(f < 3)))
    return pd.DataFrame(rows).astype({"walk": np.int8, "groom": np.int8})


def test_to_bouts_exact():
    bt = B.to_bouts(frame_table().sample(frac=1, random_state=0), BEH, fps=FPS)
    assert list(bt.columns) == B.BOUT_TABLE_COLUMNS
    got = list(
        bt[["animal", "behaviour", "start_frame", "stop_frame"]].itertuples(index=False, name=None)
    )
    assert got == [
        ("a", "walk", 2, 6),
        ("a", "groom", 5, 8),
        ("a", "walk", 8, 10),
        ("a", "walk", 11, 13),
        ("b", "groom", 0, 3),
    ]
    assert (bt["video"] == "").all() and (bt["partner"] == "").all()
    np.testing.assert_allclose(bt["start_s"], [0.2, 0.5, 0.8, 1.1, 0.0])
    np.testing.assert_allclose(bt["stop_s"], [0.6, 0.8, 1.0, 1.3, 0.3])
    np.testing.assert_allclose(bt["duration_s"], [0.4, 0.3, 0.2, 0.2, 0.3])
    assert bt["start_frame"].dtype == np.int64


def test_to_bouts_partner_is_the_most_frequent():
    t = frame_table()
    partner = np.where(t["frame"] < 4, "b", np.where(t["frame"] < 6, "c", ""))
    partner[(t["animal"] == "b").to_numpy()] = ""
    feats = t[["animal", "frame"]].assign(partner=partner)
    bt = B.to_bouts(t, BEH, fps=FPS, partners=feats)
    # walk 2-5: b, b, c, c -> tie, the first by name; groom 5-7: c, "", "" -> c; others: none
    assert list(bt["partner"]) == ["b", "c", "", "", ""]
    feats.loc[(feats["frame"] == 4) & (feats["animal"] == "a"), "partner"] = "b"
    assert B.to_bouts(t, BEH, fps=FPS, partners=feats)["partner"].iloc[0] == "b"


def test_to_bouts_of_predictions_and_empty():
    ids = rle((NONE, 3), (1, 4), (NONE, 3))
    t = B.predictions_table(
        "v1",
        "a",
        np.arange(10),
        probs_of(ids),
        CLASSES,
        BEH,
        True,
        fps=FPS,
        min_bout_s=0.2,
        merge_gap_s=0.2,
    )
    bt = B.to_bouts(t, BEH, fps=FPS)
    assert bt[["video", "behaviour", "start_frame", "stop_frame"]].values.tolist() == [
        ["v1", "groom", 3, 7]
    ]
    empty = B.to_bouts(t.assign(groom=0), BEH, fps=FPS)
    assert len(empty) == 0 and list(empty.columns) == B.BOUT_TABLE_COLUMNS
    with pytest.raises(EthoflowError, match="rest"):
        B.to_bouts(t, ["rest"], fps=FPS)


# --------------------------------------------------------------------------------------------
# budgets and export


def test_time_budgets_hand_case():
    t = frame_table()
    bt = B.to_bouts(t, BEH, fps=FPS)
    bud = B.time_budgets(bt, n_frames={"a": 20, "b": 10}, fps=FPS, behaviours=BEH, video="v")
    assert list(bud.columns) == B.BUDGET_COLUMNS
    r = bud.set_index(["animal", "behaviour"])
    assert r.loc[("a", "walk"), "seconds"] == pytest.approx(0.8)
    assert r.loc[("a", "walk"), "share"] == pytest.approx(0.8 / 2.0)
    assert r.loc[("a", "walk"), "bouts"] == 3
    assert r.loc[("a", "walk"), "mean_bout_s"] == pytest.approx(0.8 / 3)
    assert r.loc[("a", "walk"), "latency_s"] == pytest.approx(0.2)
    assert r.loc[("b", "groom"), "share"] == pytest.approx(0.3)
    assert r.loc[("b", "groom"), "latency_s"] == 0.0
    assert r.loc[("b", "walk"), "bouts"] == 0 and r.loc[("b", "walk"), "seconds"] == 0
    assert np.isnan(r.loc[("b", "walk"), "latency_s"])
    assert np.isnan(r.loc[("b", "walk"), "mean_bout_s"])
    assert (bud["video"] == "v").all()
    # from the frame table: its distinct frames per animal (a: 13, b: 4)
    bud = B.time_budgets(bt, n_frames=t, fps=FPS, behaviours=BEH)
    r = bud.set_index(["animal", "behaviour"])
    assert r.loc[("a", "walk"), "share"] == pytest.approx(0.8 / 1.3)
    assert r.loc[("b", "groom"), "share"] == pytest.approx(0.75)


def test_export_bouts(tmp_path):
    bt = B.to_bouts(frame_table(), BEH, fps=FPS).assign(video="v")
    bud = B.time_budgets(bt, n_frames={"a": 20, "b": 10}, fps=FPS, behaviours=BEH)
    has_boris = importlib.util.find_spec("ethoflow.io.boris") is not None
    boris = tmp_path / "boris" / "v.tsv" if has_boris else None
    B.export_bouts(
        bt,
        bud,
        bouts_csv=tmp_path / "b" / "bouts.csv",
        budgets_csv=tmp_path / "b" / "budgets.csv",
        boris_path=boris,
        fps=FPS,
        observation_id="v",
    )
    back = pd.read_csv(tmp_path / "b" / "bouts.csv", keep_default_na=False)
    assert (
        back[["start_frame", "stop_frame"]].values.tolist()
        == bt[["start_frame", "stop_frame"]].values.tolist()
    )
    assert len(pd.read_csv(tmp_path / "b" / "budgets.csv")) == 4
    B.export_bouts(bt, bud, csv_dir=tmp_path / "d", fps=FPS, observation_id="v")
    assert (tmp_path / "d" / "bouts.csv").exists() and (tmp_path / "d" / "budgets.csv").exists()
    if has_boris:
        from ethoflow.io.boris import read_boris

        assert boris.exists() and boris.stat().st_size > 0
        assert not [p for p in boris.parent.iterdir() if p.name.startswith(".")]
        back = read_boris(boris).sort_values(["subject", "start_s", "type"])
        want = bt.sort_values(["animal", "start_s", "behaviour"])
        assert list(back["subject"]) == list(want["animal"])
        assert list(back["type"]) == list(want["behaviour"])
        np.testing.assert_allclose(back["start_s"], want["start_s"])
        np.testing.assert_allclose(back["stop_s"], want["stop_s"])
