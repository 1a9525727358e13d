import pandas as pd
import pytest
import torch

from ethoflow.infer import infer_shard, read_detections, shard_range
from ethoflow.models import build_model

IDS = ["mouse1", "mouse2", "mouse3"]


@pytest.mark.parametrize("n,k,b", [(40, 3, 4), (41, 4, 3), (7, 3, 2), (300, 10, 4), (5, 1, 8)])
def test_shard_ranges_tile_the_video_on_batch_boundaries(n, k, b):
    ranges = [shard_range(n, k, i, b) for i in range(k)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    for (_, e0), (s1, _) in zip(ranges, ranges[1:]):
        assert e0 == s1
    assert all(s % b == 0 for s, _ in ranges)


@pytest.fixture(scope="module")
def random_model():
    torch.manual_seed(0)
    # an untrained network still proposes boxes of every class: enough to test the plumbing
    return build_model(
        "maskrcnn",
        3,
        dict(
            backbone="resnet18_fpn",
            min_size=128,
            max_size=128,
            fpn_channels=64,
            box_score_thresh=0.0,
        ),
    ).eval()


def test_k_shards_equal_one_shard_row_for_row(random_model, tiny_demo, tmp_path):
    video = tiny_demo["va"]["video"]
    n, b = 40, 4
    one = tmp_path / "one.parquet"
    infer_shard(random_model, IDS, video, "va", 0, n, one, batch_size=b, min_score=0.0)
    parts = []
    for i in range(3):
        s, e = shard_range(n, 3, i, b)
        parts.append(tmp_path / f"shard-{i}.parquet")
        infer_shard(random_model, IDS, video, "va", s, e, parts[-1], batch_size=b, min_score=0.0)
    a, c = read_detections([one]), read_detections(parts)
    assert len(a) > 0 and a["frame"].nunique() == n
    pd.testing.assert_frame_equal(a, c)


def test_detection_rows_carry_identity_distribution(random_model, tiny_demo, tmp_path):
    out = tmp_path / "d.parquet"
    infer_shard(
        random_model, IDS, tiny_demo["va"]["video"], "va", 0, 4, out, batch_size=2, min_score=0.0
    )
    df = read_detections([out])
    assert set(df["identity"]) <= set(IDS)
    for cs, ident, score in zip(df["class_scores"], df["identity"], df["score"]):
        assert len(cs) == 3 and 0.0 <= min(cs) and sum(cs) <= 1.0 + 1e-5
        assert cs[IDS.index(ident)] == pytest.approx(score, abs=1e-5)


def test_truncated_video_fails_cleanly(random_model, tiny_demo, tmp_path):
    from ethoflow.io import EthoflowError
    from ethoflow.video import probe

    data = tiny_demo["va"]["video"].read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(EthoflowError, match="cut.mp4"):
        probe(bad)
    out = tmp_path / "d.parquet"
    with pytest.raises(EthoflowError, match="cut.mp4"):
        infer_shard(random_model, IDS, bad, "va", 0, 40, out)
    assert not out.exists()
