import pandas as pd
import pytest
import torch

from ethoflow.models import build_model
from ethoflow.tracking.infer import infer_shard, read_detections, shard_range

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
    from ethoflow.io.video import probe

    data = tiny_demo["va"]["video"].read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(EthoflowError, match="cut.mp4"):
        probe(bad)
    out = tmp_path / "d.parquet"
    with pytest.raises(EthoflowError, match="cut.mp4"):
        infer_shard(random_model, IDS, bad, "va", 0, 40, out)
    assert not out.exists()


def shard_stats(path) -> dict:
    import json

    import pyarrow.parquet as pq

    return json.loads(pq.read_schema(path).metadata[b"ethoflow"])


def test_shards_record_inference_stats_and_they_add_up(random_model, tiny_demo, tmp_path):
    import pyarrow.parquet as pq

    from ethoflow.tracking.infer import DETECTION_SCHEMA, read_infer_stats

    video = tiny_demo["va"]["video"]
    a, b = tmp_path / "shard-0.parquet", tmp_path / "shard-1.parquet"
    ra = infer_shard(random_model, IDS, video, "va", 0, 4, a, batch_size=2, min_score=0.5)
    rb = infer_shard(random_model, IDS, video, "va", 4, 10, b, batch_size=2, min_score=0.5)
    sa, sb = shard_stats(a), shard_stats(b)
    assert sa == {"frames": 4, "seconds": pytest.approx(ra["seconds"]), "device": "cpu"}
    assert sb["frames"] == 6 and sb["seconds"] == pytest.approx(rb["seconds"])
    assert sa["seconds"] > 0 and sb["seconds"] > 0
    assert not list(tmp_path.glob(".shard-*"))  # still written atomically
    assert read_detections([a, b])["frame"].between(0, 9).all()  # still a detection table

    both = read_infer_stats([a, b])
    assert both["frames"] == 10
    assert both["seconds"] == pytest.approx(sa["seconds"] + sb["seconds"])
    assert both["fps"] == pytest.approx(10 / (sa["seconds"] + sb["seconds"]))

    # a shard written without statistics is unknown: left out, and alone it gives no rate
    old = tmp_path / "old.parquet"
    pq.write_table(DETECTION_SCHEMA.empty_table(), old)
    assert read_infer_stats([a, old])["frames"] == 4
    assert read_infer_stats([old]) == {"frames": None, "seconds": None, "fps": None}
    assert read_infer_stats([]) == {"frames": None, "seconds": None, "fps": None}


class FeatureReuse(torch.nn.Module):
    """A model that may reuse features across consecutive frames; records how it was called."""

    supports_feature_reuse = True

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.calls: list[bool] = []

    def forward(self, images, consecutive=False):
        self.calls.append(consecutive)
        return self.inner(images)


def test_video_batches_are_marked_consecutive(random_model, tiny_demo, tmp_path):
    import numpy as np

    from ethoflow.tracking.infer import predict

    model = FeatureReuse(random_model).eval()
    out = tmp_path / "d.parquet"
    infer_shard(model, IDS, tiny_demo["va"]["video"], "va", 0, 6, out, batch_size=2)
    assert model.calls == [True, True, True]
    model.calls.clear()
    frame = np.zeros((64, 64, 3), dtype=np.uint8)
    predict(model, [frame], "cpu")  # unrelated images (COCO evaluation): not consecutive
    assert model.calls == [False]
    # a model without the attribute is called as before, without the keyword
    assert len(predict(random_model, [frame], "cpu", consecutive=True)) == 1
