"""Behaviour classifiers (TCN, trees), their files, and the evaluation (scores, bouts, CV)."""

import pickle

import numpy as np
import pandas as pd
import pytest
import torch

from ethoflow.behaviour import evaluate as E
from ethoflow.behaviour import features as F
from ethoflow.behaviour import tcn, trees
from ethoflow.behaviour.dataset import Standardizer, make_sequences
from ethoflow.io import EthoflowError

BEH = ["high", "after"]
COLS = ["f0", "f1", "f2", "f3"]
TINY = dict(
    channels=16,
    layers=6,
    stages=2,
    dropout=0.1,
    epochs=20,
    lr=0.01,
    crop=128,
    batch_size=8,
    checkpoint_every=2,
    threads=1,
)


def synth(n_seq, T=600, seed=0, video="v", exclusive=True):
    """Features + frame labels: "high" while f0 > 0.8 (per frame), "after" the 20 frames after
    an impulse in f1 (temporal context only). A missing run per animal; no labels for frames
    0-4; exclusive: "after" wins."""
    rng = np.random.default_rng(seed)
    feats, labs = [], []
    for a in range(n_seq):
        noise = rng.normal(size=T + 40)
        f0 = np.convolve(noise, np.ones(25) / 5, mode="same")[20:-20]
        f1 = np.zeros(T)
        events = np.sort(rng.choice(np.arange(10, T - 30), size=T // 100, replace=False))
        f1[events] = 1.0
        after = np.zeros(T, int)
        for e in events:
            after[e + 1 : e + 21] = 1
        high = (f0 > 0.8).astype(int)
        if exclusive:
            high[after == 1] = 0
        status = np.array(["detected"] * T, dtype=object)
        m0 = rng.integers(30, T - 20)
        status[m0 : m0 + 8] = "missing"
        fd = pd.DataFrame(
            {
                "video": video,
                "animal": f"a{a}",
                "frame": np.arange(T),
                "time_s": np.arange(T) / 30.0,
                "status": status,
                "partner": "",
                "f0": f0,
                "f1": f1,
                "f2": rng.normal(size=T),
                "f3": rng.normal(size=T),
            }
        )
        fd.loc[status == "missing", COLS] = np.nan
        fd[COLS] = fd[COLS].astype(np.float32)
        ld = pd.DataFrame(
            {
                "video": video,
                "animal": f"a{a}",
                "frame": np.arange(T),
                "scored": status != "missing",
                "high": high.astype(np.int8),
                "after": after.astype(np.int8),
            }
        )
        feats.append(fd)
        labs.append(ld.iloc[5:])
    return pd.concat(feats, ignore_index=True), pd.concat(labs, ignore_index=True)


def seqs_of(n, seed, video, exclusive=True):
    f, lab = synth(n, seed=seed, video=video, exclusive=exclusive)
    return make_sequences(f, COLS, lab, behaviours=BEH, exclusive=exclusive)


@pytest.fixture(autouse=True)
def _threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def data():
    return seqs_of(8, 1, "train"), seqs_of(3, 2, "test")


@pytest.fixture(scope="module")
def trained(data, tmp_path_factory):
    d = tmp_path_factory.mktemp("tcn")
    model = tcn.train_tcn(
        data[0],
        columns=COLS,
        behaviours=BEH,
        exclusive=True,
        settings=TINY,
        workdir=d / "work",
        dest=d / "tcn.pt",
    )
    return model, d / "tcn.pt"


def held_out_scores(model, seqs, exclusive=True):
    probs = model.predict(seqs)
    y = np.concatenate([s.y[s.scored] for s in seqs])
    p = np.concatenate([q[s.scored] for s, q in zip(seqs, probs)])
    pred = np.eye(p.shape[1])[p.argmax(1)] if exclusive else (p >= 0.5)
    return E.frame_scores(y, p, pred, model.classes)


# --------------------------------------------------------------------------------------------
# dataset


def test_sequences_mask_unlabelled_and_missing_frames():
    f, lab = synth(2, T=200, seed=3)
    seqs = make_sequences(f, COLS, lab, behaviours=BEH, exclusive=True)
    assert [(s.video, s.animal) for s in seqs] == [("v", "a0"), ("v", "a1")]
    s = seqs[0]
    assert s.X.dtype == np.float32 and s.y.shape == (200, 3) and s.frames.dtype == np.int64
    assert not s.scored[:5].any()  # no label rows
    assert (s.missing == np.isnan(s.X).all(1)).all() and s.missing.sum() == 8
    assert not s.scored[s.missing].any()
    assert (s.y.sum(1) == 1).all()  # exclusive: one class per frame, "none" included
    std = Standardizer.fit(seqs)
    z = std.transform(s)
    assert z.shape == (200, 5) and np.isfinite(z).all()
    assert (z[s.missing, :4] == 0).all() and (z[:, 4] == s.missing).all()
    assert abs(z[~s.missing, 0].mean()) < 0.3
    nolab = make_sequences(f, COLS, None, behaviours=BEH, exclusive=True)
    assert nolab[0].y is None and not nolab[0].scored.any()


def test_exclusive_labels_with_two_behaviours_on_are_refused():
    f, lab = synth(1, T=100, seed=4, exclusive=False)
    lab[["high", "after"]] = 0
    lab.loc[lab.index[10], ["high", "after"]] = 1
    with pytest.raises(EthoflowError, match="frame 15 has 2 behaviours"):
        make_sequences(f, COLS, lab, behaviours=BEH, exclusive=True)


# --------------------------------------------------------------------------------------------
# TCN


def test_tcn_learns_temporal_context_and_beats_per_frame_trees(data, trained):
    model, _ = trained
    sc = held_out_scores(model, data[1])
    assert sc["macro_f1"] >= 0.9, sc
    assert sc["per_class"]["after"]["f1"] >= 0.9
    tr = trees.fit_trees(
        data[0],
        columns=COLS,
        behaviours=BEH,
        exclusive=True,
        settings=dict(max_iter=50, threads=1),
        seed=0,
    )
    st = held_out_scores(tr, data[1])
    assert st["per_class"]["high"]["f1"] >= 0.8  # the per-frame behaviour: trees learn it
    assert st["per_class"]["after"]["f1"] < sc["per_class"]["after"]["f1"] - 0.3
    assert model.history[-1]["loss"] < model.history[0]["loss"]


def test_tcn_weights_file_round_trip_and_schema_check(data, trained, tmp_path):
    model, path = trained
    doc = torch.load(path, weights_only=True)
    assert doc["format"] == "ethoflow-behaviour-tcn" and doc["version"] == 1
    assert doc["classes"] == ["high", "after", "none"] and doc["columns"] == COLS
    again = tcn.load_tcn(path, COLS)
    a, b = model.predict(data[1][:1])[0], again.predict(data[1][:1])[0]
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a.sum(1), 1, atol=1e-5)
    with pytest.raises(EthoflowError, match=r"tcn\.pt.*missing \['f3'\], extra \['g'\]"):
        tcn.load_tcn(path, ["f0", "f1", "f2", "g"])
    # chunked inference (with context overlap) equals one pass
    one = again.predict(data[1][:1], chunk=10**6)[0]
    np.testing.assert_allclose(again.predict(data[1][:1], chunk=97)[0], one, atol=1e-5)


class Evil:
    def __reduce__(self):
        return (print, ("ran code",))


def test_weights_with_pickled_objects_or_foreign_content_are_refused(tmp_path):
    evil = tmp_path / "evil.pt"
    torch.save({"format": "ethoflow-behaviour-tcn", "obj": Evil()}, evil)
    with pytest.raises(EthoflowError, match="evil.pt: not a loadable TCN weights file"):
        tcn.load_tcn(evil)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": {}}, foreign)
    with pytest.raises(EthoflowError, match="foreign.pt: not an ethoflow behaviour TCN"):
        tcn.load_tcn(foreign)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip")
    with pytest.raises(EthoflowError, match="junk.pt"):
        tcn.load_tcn(junk)
    with pytest.raises(EthoflowError, match="absent.pt: TCN weights file not found"):
        tcn.load_tcn(tmp_path / "absent.pt")


def small():
    return seqs_of(2, 5, "s")[:2]


def weights_of(model):
    return {k: v.clone() for k, v in model.net.state_dict().items()}


def test_tcn_training_is_deterministic_by_seed(tmp_path):
    s = {**TINY, "epochs": 2}
    kw = dict(columns=COLS, behaviours=BEH, exclusive=True)
    a = tcn.train_tcn(small(), settings=s, workdir=tmp_path / "a", **kw)
    b = tcn.train_tcn(small(), settings=s, workdir=tmp_path / "b", **kw)
    c = tcn.train_tcn(small(), settings={**s, "seed": 1}, workdir=tmp_path / "c", **kw)
    wa, wb, wc = weights_of(a), weights_of(b), weights_of(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)


class Killed(Exception):
    pass


def test_tcn_resumes_after_a_kill_and_matches_an_uninterrupted_run(tmp_path, monkeypatch):
    s = {**TINY, "epochs": 4, "checkpoint_every": 2}
    kw = dict(columns=COLS, behaviours=BEH, exclusive=True, settings=s)
    straight = tcn.train_tcn(small(), workdir=tmp_path / "s", dest=tmp_path / "s.pt", **kw)
    save = tcn.save_checkpoint

    def save_then_die(path, state):
        save(path, state)
        raise Killed  # the process dies right after the checkpoint is on disk

    monkeypatch.setattr(tcn, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        tcn.train_tcn(small(), workdir=tmp_path / "k", dest=tmp_path / "k.pt", **kw)
    monkeypatch.undo()
    ckpt = tmp_path / "k" / "checkpoint.pt"
    assert ckpt.exists() and not (tmp_path / "k.pt").exists()
    assert torch.load(ckpt, weights_only=True)["epoch"] == 2
    resumed = tcn.train_tcn(small(), workdir=tmp_path / "k", dest=tmp_path / "k.pt", **kw)
    assert not ckpt.exists()
    wa, wb = weights_of(straight), weights_of(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r["epoch"] for r in resumed.history] == [1, 2, 3, 4]
    assert tcn.load_tcn(tmp_path / "k.pt").history[-1]["loss"] == straight.history[-1]["loss"]
    # a checkpoint of other settings is not resumed
    monkeypatch.setattr(tcn, "save_checkpoint", save_then_die)
    with pytest.raises(Killed):
        tcn.train_tcn(small(), workdir=tmp_path / "o", **kw)
    monkeypatch.undo()
    other = tcn.train_tcn(small(), workdir=tmp_path / "o", **{**kw, "settings": {**s, "lr": 0.02}})
    assert [r["epoch"] for r in other.history] == [1, 2, 3, 4]


def test_tcn_multi_label_mode(tmp_path):
    tr, te = seqs_of(6, 6, "m", exclusive=False), seqs_of(2, 7, "n", exclusive=False)
    assert (tr[0].y.sum(1) == 2).any()  # overlapping behaviours
    model = tcn.train_tcn(
        tr,
        columns=COLS,
        behaviours=BEH,
        exclusive=False,
        settings={**TINY, "epochs": 20},
        workdir=tmp_path,
        dest=tmp_path / "m.pt",
    )
    assert model.classes == BEH
    probs = model.predict(te)[0]
    assert probs.shape == (len(te[0]), 2) and ((probs >= 0) & (probs <= 1)).all()
    sc = held_out_scores(tcn.load_tcn(tmp_path / "m.pt", COLS), te, exclusive=False)
    assert sc["macro_f1"] >= 0.8, sc


def test_tcn_auxiliary_head_learns_the_union_and_is_not_predicted(tmp_path):
    y = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])
    groups = tcn.auxiliary_groups({"either": ["high", "after"]}, BEH, exclusive=False)
    assert groups == {"either": [0, 1]}
    assert tcn.with_auxiliary(y, groups)[:, -1].tolist() == [0, 1, 1, 1]
    assert tcn.with_auxiliary(y, {}) is y
    tr, te = seqs_of(6, 6, "m", exclusive=False), seqs_of(2, 7, "n", exclusive=False)
    kw = dict(columns=COLS, behaviours=BEH, exclusive=False, workdir=tmp_path)
    s = {**TINY, "epochs": 20, "auxiliary": {"either": ["high", "after"]}}
    model = tcn.train_tcn(tr, settings=s, dest=tmp_path / "a.pt", **kw)
    assert model.auxiliary == {"either": ["high", "after"]}
    assert model.net.stages[-1].out.out_channels == 3  # two behaviours + the head
    probs = model.predict(te)[0]
    assert probs.shape == (len(te[0]), 2)  # the head is not a prediction
    back = tcn.load_tcn(tmp_path / "a.pt", COLS)
    assert back.auxiliary == model.auxiliary and np.array_equal(back.predict(te)[0], probs)
    assert held_out_scores(back, te, exclusive=False)["macro_f1"] >= 0.8
    # the head itself learnt the union: "high" or "after"
    z = torch.from_numpy(model.standardizer.transform(te[0]).T.copy())[None]
    with torch.no_grad():
        head = model.net.activate(model.net(z)[-1])[0, 2].numpy() > 0.5
    union = te[0].y.max(axis=1).astype(bool) & te[0].scored
    on = head & te[0].scored
    assert 2 * (on & union).sum() / (on.sum() + union.sum()) >= 0.8
    # bad tables, named; and a weights file whose head names no behaviour
    for aux, match in [
        ({"either": ["high", "jump"]}, r"either: \['jump'\] are not behaviours"),
        ({"high": ["high", "after"]}, "'high' is a behaviour"),
        ({"either": []}, "either: a list of behaviours"),
    ]:
        with pytest.raises(EthoflowError, match=match):
            tcn.train_tcn(tr, settings={**s, "auxiliary": aux}, **kw)
    with pytest.raises(EthoflowError, match="exclusive: false"):
        tcn.train_tcn(seqs_of(2, 6, "x"), settings=s, **{**kw, "exclusive": True})
    doc = torch.load(tmp_path / "a.pt", weights_only=True)
    doc["auxiliary"] = {"either": ["high", "jump"]}
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(EthoflowError, match="bad.pt: auxiliary.either: .*are not behaviours"):
        tcn.load_tcn(tmp_path / "bad.pt")
    del doc["behaviours"]
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(EthoflowError, match=r"bad.pt: TCN weights file lacks \['behaviours'\]"):
        tcn.load_tcn(tmp_path / "bad.pt")


# --------------------------------------------------------------------------------------------
# trees


def test_trees_multi_label_file_round_trip_and_schema_check(data, tmp_path):
    tr = seqs_of(3, 8, "t", exclusive=False)
    model = trees.fit_trees(
        tr,
        columns=COLS,
        behaviours=BEH,
        exclusive=False,
        settings=dict(max_iter=20, threads=1),
        seed=0,
    )
    trees.save_trees(model, tmp_path / "trees.pkl")
    again = trees.load_trees(tmp_path / "trees.pkl", COLS)
    a, b = model.predict(tr[:1])[0], again.predict(tr[:1])[0]
    assert a.shape == (len(tr[0]), 2)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(EthoflowError, match=r"trees.pkl.*missing \['f0'\], extra \[\]"):
        trees.load_trees(tmp_path / "trees.pkl", COLS[1:])
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(pickle.dumps({"hello": 1}))
    with pytest.raises(EthoflowError, match="bad.pkl: not an ethoflow behaviour trees file"):
        trees.load_trees(bad)
    doc = pickle.loads((tmp_path / "trees.pkl").read_bytes())
    (tmp_path / "v9.pkl").write_bytes(pickle.dumps({**doc, "version": 9}))
    with pytest.raises(EthoflowError, match="v9.pkl: trees file version 9, expected 1 or 2"):
        trees.load_trees(tmp_path / "v9.pkl")


# --------------------------------------------------------------------------------------------
# evaluation


def test_frame_scores_on_a_hand_computed_case():
    classes = ["a", "b", "none"]
    y_true = np.array([[1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1]])
    y_pred = np.array([[1, 0, 0], [0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 0, 1]])
    probs = np.array([[0.9, 0, 0.1], [0.4, 0, 0.6], [0.5, 0.3, 0.2], [0.1, 0, 0.9], [0.2, 0, 0.8]])
    r = E.frame_scores(y_true, probs, y_pred, classes)
    a, b = r["per_class"]["a"], r["per_class"]["b"]
    assert (a["precision"], a["recall"], a["f1"]) == (0.5, 0.5, 0.5)
    assert (b["precision"], b["recall"], b["f1"]) == (0.0, 0.0, 0.0)
    # AP of "a": scores 0.9(+) 0.5(-) 0.4(+) 0.2 0.1 -> (1/1 + 2/3) / 2
    assert a["ap"] == pytest.approx((1 + 2 / 3) / 2)
    assert b["ap"] == pytest.approx(1.0)  # its only frame has the top "b" score
    assert r["macro_f1"] == pytest.approx(0.25)  # "none" left out
    assert r["map"] == pytest.approx(((1 + 2 / 3) / 2 + 1) / 2)
    absent = E.frame_scores(y_true[:2], probs[:2], y_pred[:2], classes)
    assert np.isnan(absent["per_class"]["b"]["ap"]) and np.isnan(absent["per_class"]["b"]["f1"])
    assert absent["macro_f1"] == pytest.approx(2 / 3)  # "a": precision 1, recall 1/2


def test_confusion_counts():
    c = E.confusion(["a", "a", "none", "b"], ["a", "none", "none", "a"], ["a", "b", "none"])
    assert c.loc["a", "a"] == 1 and c.loc["a", "none"] == 1 and c.loc["b", "a"] == 1
    assert c.loc["none", "none"] == 1 and int(c.to_numpy().sum()) == 4
    assert c.index.name == "true" and c.columns.name == "predicted"
    with pytest.raises(EthoflowError, match="'c'"):
        E.confusion(["c"], ["a"], ["a", "b", "none"])


def bouts(rows):
    return pd.DataFrame(rows, columns=["video", "animal", "behaviour", "start_frame", "stop_frame"])


def test_bout_matching_is_greedy_one_to_one_by_iou():
    true = bouts(
        [
            ("v", "a", "x", 0, 10),
            ("v", "a", "x", 20, 30),
            ("v", "a", "y", 0, 10),
            ("v", "b", "x", 0, 10),
        ]
    )
    pred = bouts(
        [
            ("v", "a", "x", 0, 9),  # IoU 0.9 with true 0
            ("v", "a", "x", 2, 12),  # IoU 8/12 with true 0 (taken), nothing else
            ("v", "a", "x", 24, 30),  # IoU 0.6 with true 1
            ("v", "a", "y", 6, 10),  # IoU 0.4 < 0.5
            ("v", "c", "x", 0, 10),  # another animal
        ]
    )
    m = E.bout_matches(true, pred, iou=0.5)
    assert sorted(zip(m["true_index"], m["pred_index"])) == [(0, 0), (1, 2)]
    r = E.bout_f1(true, pred, iou=0.5)
    assert r["n_true"] == 4 and r["n_pred"] == 5 and r["n_matched"] == 2
    assert r["precision"] == pytest.approx(2 / 5) and r["recall"] == pytest.approx(2 / 4)
    assert r["f1"] == pytest.approx(4 / 9)
    x, y = r["per_behaviour"]["x"], r["per_behaviour"]["y"]
    assert (x["precision"], x["recall"]) == (pytest.approx(2 / 4), pytest.approx(2 / 3))
    assert y["f1"] == 0.0
    assert r["macro_f1"] == pytest.approx((2 * 2 / 7 + 0) / 2)
    assert E.bout_f1(true, pred, iou=0.35)["per_behaviour"]["y"]["f1"] == 1.0


def test_block_folds_cover_contiguously():
    assert E.block_folds(10, 3) == [(0, 3), (3, 7), (7, 10)]
    assert E.block_folds(5, 1) == [(0, 5)]


def test_cross_validation_never_trains_on_the_frames_it_predicts():
    seqs = seqs_of(2, 9, "cv")[:2]
    trained_on = []

    def fit(train):
        frames = {(s.animal, int(f)) for s in train for f in s.frames[s.scored]}
        trained_on.append(frames)
        return len(trained_on) - 1

    def predict(k, xs):  # probabilities that name the fold that made them
        return [np.full((len(s), 3), float(k), np.float32) for s in xs]

    oof = E.cross_validate(seqs, 3, fit, predict)
    assert len(trained_on) == 3
    for s, p in zip(seqs, oof):
        assert p.shape == (len(s), 3) and not np.isnan(p).any()
        for i, f in enumerate(s.frames):
            fold = int(p[i, 0])
            assert (s.animal, int(f)) not in trained_on[fold]
        for fold, (a, b) in enumerate(E.block_folds(len(s), 3)):
            assert (p[a:b, 0] == fold).all()
            # the other blocks' scored frames were all trained on
            others = {(s.animal, int(f)) for f in np.r_[s.frames[:a], s.frames[b:]]}
            scored = {(s.animal, int(f)) for f in s.frames[s.scored]}
            assert others & scored <= trained_on[fold]
    E.cross_validate(seqs, 2, fit, predict, gap=50)
    assert not any(("a0", f) in trained_on[-1] for f in range(250, 350))


def test_tcn_without_window_inputs_reads_only_the_per_frame_columns(tmp_path):
    from dataclasses import replace

    rng = np.random.default_rng(3)
    cols = [*COLS, "f0_mean_1s", "f1_max_0.5s"]
    assert [F.is_window_column(c) for c in cols] == [False] * 4 + [True, True]

    def widen(seqs, scale):
        return [
            replace(s, X=np.c_[s.X, scale * rng.normal(size=(len(s), 2))].astype(np.float32))
            for s in seqs
        ]

    s = {**TINY, "epochs": 2, "window_inputs": False}
    kw = dict(columns=cols, behaviours=BEH, exclusive=True)
    model = tcn.train_tcn(
        widen(small(), 1.0), settings=s, workdir=tmp_path / "w", dest=tmp_path / "t.pt", **kw
    )
    assert model.standardizer.keep.tolist() == [0, 1, 2, 3]
    assert model.standardizer.n_inputs == 5  # four columns + the missing channel
    test = seqs_of(1, 9, "t")
    a = model.predict(widen(test, 1.0))[0]
    b = model.predict(widen(test, 1e3))[0]  # the window columns do not reach the network
    assert np.array_equal(a, b)
    back = tcn.load_tcn(tmp_path / "t.pt", cols)
    assert np.array_equal(back.predict(widen(test, 1.0))[0], a)
    with pytest.raises(EthoflowError, match="expects 6"):
        back.predict(test)  # four columns given: the schema is the full one
    doc = torch.load(tmp_path / "t.pt", weights_only=True)
    doc["keep"] = [0, 1, 2, 99]
    torch.save(doc, tmp_path / "bad.pt")
    with pytest.raises(EthoflowError, match="bad.pt: inconsistent input columns"):
        tcn.load_tcn(tmp_path / "bad.pt")
    full = tcn.train_tcn(
        widen(small(), 1.0), settings={**s, "window_inputs": True}, workdir=tmp_path / "f", **kw
    )
    assert full.standardizer.keep is None and full.standardizer.n_inputs == 7


def test_trees_binning_gives_sklearns_own_edges_and_trees():
    """The trees bin each column once, as sklearn's weighted binning does 254 times: the same
    edges (ties, NaN, few distinct values included), and the same probabilities as a plain
    class-balanced HistGradientBoostingClassifier, on the training frames and on new ones."""
    binning = pytest.importorskip("sklearn.ensemble._hist_gradient_boosting.binning")
    from sklearn.utils.class_weight import compute_sample_weight

    rng = np.random.default_rng(3)
    n, d = 900, 12
    x = rng.normal(size=(n, d)).astype(np.float32)
    x[rng.random((n, d)) < 0.05] = np.nan
    x[:, 2] = np.round(x[:, 2] * 40) / 40  # >255 values would be quantiles; ties among them
    x[:, 3] = rng.integers(0, 3, n)  # three values: midpoints
    x[:, 4] = 1.0  # constant: no edge
    y = (np.nan_to_num(x[:, 0]) + rng.normal(0, 0.5, n) > 1.2).astype(int)
    w = compute_sample_weight("balanced", y)
    for j in range(d):
        expected = binning._find_binning_thresholds(x[:, j].astype(np.float64), 255, w)
        np.testing.assert_array_equal(trees.bin_edges(x[:, j], w), expected, err_msg=f"col {j}")
    settings = {**trees.DEFAULT_TREES, "max_iter": 20}
    binned = trees._fit_one(x, y, 2, settings, 0)
    assert isinstance(binned, trees.BinnedTrees)
    plain = trees._classifier(settings, 0).fit(x, y)
    fresh = rng.normal(size=(300, d)).astype(np.float32)
    for data in (x, fresh):
        np.testing.assert_array_equal(binned.predict_proba(data), plain.predict_proba(data))
