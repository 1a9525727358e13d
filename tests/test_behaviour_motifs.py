"""Unsupervised motifs: cluster recovery on three well separated behaviours, determinism by
seed, every frame assigned, usage / transitions / durations / profiles, storage."""

import numpy as np
import pandas as pd
import pytest

from ethoflow.behaviour import motifs as M
from ethoflow.io import EthoflowError

FPS = 30.0


def synthetic(seed=0, n_bouts=120, n_features=8):
    """Bouts of 3 behaviours (20-60 frames each), each 8 sd up on its own feature; 2% NaN."""
    rng = np.random.default_rng(seed)
    centers = np.eye(3, n_features) * 8.0
    labels, prev = [], -1
    for _ in range(n_bouts):
        b = int(rng.choice([c for c in range(3) if c != prev]))
        labels.append(np.full(int(rng.integers(20, 60)), b))
        prev = b
    y = np.concatenate(labels)
    X = centers[y] + rng.normal(0.0, 1.0, (len(y), n_features))
    X[rng.random(X.shape) < 0.02] = np.nan
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def fitted():
    X, y = synthetic()
    model = M.fit_motifs(X, sample=2000, seed=0, n_neighbors=15, min_cluster_share=0.05)
    return X, y, model


def test_motifs_recover_the_behaviours(fitted):
    X, y, model = fitted
    labels = M.assign(model, X)
    assert labels.shape == (len(X),)
    assert labels.min() >= 0 and labels.max() < model.n_motifs  # every frame has a motif
    assert M.motif_label_ami(labels, y) > 0.8
    assert len(model.sample_index) == 2000
    assert model.embedding.shape == (2000, 2)


def test_motifs_are_deterministic_by_seed(fitted):
    X, _, model = fitted
    again = M.fit_motifs(X, sample=2000, seed=0, n_neighbors=15, min_cluster_share=0.05)
    np.testing.assert_array_equal(again.sample_labels, model.sample_labels)
    np.testing.assert_array_equal(M.assign(again, X), M.assign(model, X))


def test_every_frame_is_assigned_even_all_nan(fitted):
    X, _, model = fitted
    rows = np.vstack([np.full((3, X.shape[1]), np.nan), X[:5]])
    labels = M.assign(model, rows)
    assert ((labels >= 0) & (labels < model.n_motifs)).all()
    with pytest.raises(EthoflowError, match="features"):
        M.assign(model, X[:, :3])


def test_usage_transitions_durations(fitted):
    X, y, model = fitted
    labels = M.assign(model, X)
    n = model.n_motifs
    share = M.usage(labels, n)
    assert share.shape == (n,) and share.sum() == pytest.approx(1.0)
    trans = M.transitions([labels[:2000], labels[2000:]], n)
    assert trans.shape == (n, n)
    np.testing.assert_allclose(trans.sum(axis=1), 1.0)
    assert np.diag(trans).sum() == 0
    dur = M.mean_durations(labels, FPS, n)
    assert dur.shape == (n,) and (dur > 0.3).all()  # bouts of 20-60 frames, not flicker


def test_summaries_on_hand_cases():
    np.testing.assert_allclose(M.usage(np.array([0, 0, 1, -1]), 3), [2 / 3, 1 / 3, 0])
    t = M.transitions(np.array([0, 0, 1, 1, 0, 2, 2]), 3)
    np.testing.assert_allclose(t, [[0, 0.5, 0.5], [1, 0, 0], [0, 0, 0]])
    # no transition across sequences
    t = M.transitions([np.array([0, 0]), np.array([1, 1])], 2)
    assert t.sum() == 0
    d = M.mean_durations([np.array([0, 0, 0, 1]), np.array([0, 1, 1])], 10.0, 3)
    np.testing.assert_allclose(d[:2], [0.2, 0.15])
    assert np.isnan(d[2])
    assert M.motif_label_ami(np.array([0, 0, 1, 1]), np.array(["a", "a", "b", "b"])) == 1.0


def test_profiles(fitted):
    X, y, model = fitted
    labels = M.assign(model, X)
    cols = [f"f{i}" for i in range(X.shape[1])]
    prof = M.profiles(model, X, labels, cols)
    assert isinstance(prof, pd.DataFrame)
    assert list(prof.columns) == cols and list(prof.index) == list(range(model.n_motifs))
    # each behaviour is high on its own feature: the motifs' top features are 3 distinct ones
    top = prof.to_numpy().argmax(axis=1)
    assert set(top[:3]) == {0, 1, 2}


def test_save_and_load(fitted, tmp_path):
    X, _, model = fitted
    M.save_motifs(model, tmp_path / "m.pkl")
    back = M.load_motifs(tmp_path / "m.pkl")
    np.testing.assert_array_equal(M.assign(back, X[:100]), M.assign(model, X[:100]))
    (tmp_path / "bad.pkl").write_bytes(b"not a pickle")
    with pytest.raises(EthoflowError, match="bad.pkl"):
        M.load_motifs(tmp_path / "bad.pkl")


def test_too_few_frames():
    with pytest.raises(EthoflowError, match="frames with features"):
        M.fit_motifs(np.full((100, 3), np.nan))
