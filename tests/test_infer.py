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


@pytest.mark.parametrize("seed", range(4))
def test_region_rle_is_the_full_frame_rle(seed):
    """A mask known only inside its region encodes to exactly the RLE of the full-frame mask,
    with its area, wherever the region lies (image edges and corners, full height, empty)."""
    import numpy as np

    from ethoflow.io import masks as M

    rng = np.random.default_rng(seed)
    for _ in range(400):
        h, w = (int(v) for v in rng.integers(1, 48, 2))
        rh, rw = int(rng.integers(0, h + 1)), int(rng.integers(0, w + 1))
        y0 = int(rng.choice([0, h - rh, rng.integers(0, h - rh + 1)]))
        x0 = int(rng.choice([0, w - rw, rng.integers(0, w - rw + 1)]))
        region = rng.random((rh, rw)) < rng.choice([0.0, 0.3, 0.9, 1.0])
        full = np.zeros((h, w), dtype=bool)
        full[y0 : y0 + rh, x0 : x0 + rw] = region
        rle, area = M.encode_region(region, x0, y0, h, w)
        assert rle == M.encode(full), (h, w, x0, y0, rh, rw)
        assert area == int(full.sum()) == M.area(rle)
        np.testing.assert_array_equal(M.decode(rle), full)
    with pytest.raises(ValueError, match="outside"):
        M.encode_region(np.ones((3, 3), bool), 8, 0, 10, 10)


def _untrained(family):
    torch.manual_seed(0)
    if family == "maskrcnn":
        model = build_model(
            "maskrcnn",
            3,
            dict(backbone="resnet18_fpn", min_size=96, max_size=96, fpn_channels=32),
        )
        model.roi_heads.score_thresh = 0.0
        switch = model.transform
    else:
        model = build_model("yolact", 3, dict(backbone="resnet18", input_size=96, fpn_channels=32))
        model.conf_threshold = 0.0  # an untrained head is unsure: keep every candidate
        switch = model
    return model.eval(), switch


@pytest.mark.parametrize("family", ["maskrcnn", "yolact"])
def test_region_masks_give_the_same_detections_and_tracks(family, tiny_demo, tmp_path):
    """Nothing changes but speed: the families' region output and their full-frame output
    (torchvision's pasted masks, YOLACT's cropped full-frame masks) give the same detection
    rows, masks included, and the same track table. The demo video is 128 px and the model runs
    at 96, so masks are resized up."""
    from ethoflow.tracking.identity import track

    model, switch = _untrained(family)
    video = tiny_demo["va"]["video"]
    tables = {}
    for full in (True, False):
        switch.full_masks = full
        out = tmp_path / f"{full}.parquet"
        infer_shard(model, IDS, video, "va", 0, 12, out, batch_size=4, min_score=0.0)
        tables[full] = read_detections([out])
    switch.full_masks = False
    a, b = tables[True], tables[False]
    assert len(a) >= 12 * 5 and (a["mask_area"] > 0).any()
    pd.testing.assert_frame_equal(a, b)
    kw = dict(video="va", model=family, identities=IDS, n_frames=12, fps=30.0)
    kw["params"] = dict(min_score=0.0, min_class_score=0.0)  # untrained: keep what it finds
    ta, tb = track(a, **kw), track(b, **kw)
    assert ta["mask"].notna().sum() > 0
    pd.testing.assert_frame_equal(ta, tb)


def test_detections_under_min_score_get_no_mask_work():
    """Low-score candidates are dropped before their masks are touched: a mask region that
    cannot be thresholded (a string) is never read when its detection is under min_score."""
    from ethoflow.tracking.infer import detections_from_output

    probs = torch.zeros(4, 5)
    probs[1:3, 1:4] = 0.9
    out = {
        "boxes": torch.tensor([[0.0, 0.0, 8.0, 8.0], [1.0, 1.0, 4.0, 3.0]]),
        "scores": torch.tensor([0.9, 0.01]),
        "labels": torch.tensor([1, 2]),
        "mask_regions": [(2, 3, probs), (0, 0, "not a mask")],
        "image_size": (10, 12),
    }
    (det,) = detections_from_output(out, IDS, 0.5, min_score=0.05)
    assert det["mask_area"] == 6 and det["identity"] == "mouse1"
    assert det["mask"]["size"] == [10, 12]


def test_region_pasting_keeps_exactly_the_full_frame_values_at_image_edges():
    """Mask R-CNN: each region holds the values torchvision's paste_masks_in_image writes into
    the frame (zero elsewhere); YOLACT: each region is what crop keeps. Random boxes, many of
    them over the image edges and corners, some thinner than a pixel."""
    from torchvision.models.detection.roi_heads import paste_masks_in_image

    from ethoflow.models.maskrcnn import paste_mask_regions
    from ethoflow.models.yolact.box_utils import crop, crop_regions

    g = torch.Generator().manual_seed(0)
    h, w, n = 37, 53, 300
    xy = torch.rand(n, 2, generator=g) * torch.tensor([w + 20.0, h + 20.0]) - 10
    wh = torch.rand(n, 2, generator=g) * 30 * (torch.rand(n, 1, generator=g) > 0.1)
    boxes = torch.cat([xy, xy + wh], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(0, w)  # detector boxes are clipped to the image
    boxes[:, 1::2] = boxes[:, 1::2].clamp(0, h)
    masks = torch.rand(n, 1, 28, 28, generator=g)
    full = paste_masks_in_image(masks, boxes, (h, w))[:, 0]
    rebuilt = torch.zeros_like(full)
    for k, (x0, y0, r) in enumerate(paste_mask_regions(masks, boxes, (h, w))):
        rebuilt[k, y0 : y0 + r.shape[0], x0 : x0 + r.shape[1]] = r
    assert torch.equal(rebuilt, full)
    assert (rebuilt[:, 0, :] > 0).any() and (rebuilt[:, :, -1] > 0).any()

    frames = torch.rand(n, h, w, generator=g)
    norm = boxes / torch.tensor([w, h, w, h])
    cropped = crop(frames, norm, padding=0)
    rebuilt = torch.zeros_like(cropped)
    for k, (x0, y0, r) in enumerate(crop_regions(frames, norm, padding=0)):
        rebuilt[k, y0 : y0 + r.shape[0], x0 : x0 + r.shape[1]] = r
    assert torch.equal(rebuilt, cropped)
    assert (rebuilt[:, -1, :] > 0).any() and (rebuilt[:, :, 0] > 0).any()


def test_geometry_from_runs_equals_geometry_from_pixels():
    """The tracker's box, centroid and area come from the RLE runs: the same numbers as from
    the decoded pixels, for runs that wrap over columns, full and empty masks."""
    import numpy as np

    from ethoflow.io import masks as M
    from ethoflow.io.tracktable import geometry

    rng = np.random.default_rng(0)
    for _ in range(1500):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
        a, b = geometry(mask), M.geometry(M.encode(mask))
        assert a.keys() == b.keys()
        for k in a:
            assert a[k] == b[k] or (np.isnan(a[k]) and np.isnan(b[k])), (k, a, b)


def test_shift_on_runs_equals_moving_the_pixels():
    """Gap filling shifts masks on their runs: the same RLE as moving the decoded pixels and
    clipping them at the border."""
    import numpy as np

    from ethoflow.io import masks as M

    rng = np.random.default_rng(1)
    for _ in range(1500):
        h, w = (int(v) for v in rng.integers(1, 30, 2))
        mask = rng.random((h, w)) < rng.choice([0.0, 0.05, 0.5, 0.95, 1.0])
        dx, dy = rng.uniform(-35, 35, 2)
        moved = np.zeros_like(mask)
        ys, xs = np.nonzero(mask)
        ys, xs = ys + int(round(dy)), xs + int(round(dx))
        inside = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
        moved[ys[inside], xs[inside]] = True
        assert M.shift(M.encode(mask), dx, dy) == M.encode(moved)


def test_overlapped_shard_job_gives_the_same_rows_and_fails_cleanly(
    random_model, tiny_demo, tmp_path
):
    """Decoding and post-processing in threads beside the forward pass changes nothing in the
    rows; a decode error in the background thread still names the file, and nothing is written."""
    from ethoflow.io import EthoflowError

    video = tiny_demo["va"]["video"]
    paths = {}
    for overlap in (False, True):
        paths[overlap] = tmp_path / f"{overlap}.parquet"
        infer_shard(
            random_model, IDS, video, "va", 0, 14, paths[overlap], batch_size=4, overlap=overlap
        )
    a, b = read_detections([paths[False]]), read_detections([paths[True]])
    assert a["frame"].nunique() == 14
    pd.testing.assert_frame_equal(a, b)

    data = video.read_bytes()
    bad = tmp_path / "cut.mp4"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "cut.parquet"
    with pytest.raises(EthoflowError, match="cut.mp4"):
        infer_shard(random_model, IDS, bad, "va", 0, 40, out, overlap=True)
    assert not out.exists()


def test_background_iteration_is_bounded_and_stops_with_its_consumer():
    import threading

    from ethoflow.io.video import background

    made = []

    def items():
        for i in range(1000):
            made.append(i)
            yield i

    before = set(threading.enumerate())
    it = background(items(), maxsize=3)
    assert [next(it) for _ in range(5)] == [0, 1, 2, 3, 4]
    assert len(made) <= 5 + 3 + 1  # at most maxsize ahead (plus the one being put)
    assert len(set(threading.enumerate()) - before) == 1
    it.close()
    assert set(threading.enumerate()) <= before
    assert len(made) < 20

    def broken():
        yield 1
        raise ValueError("decoder broke")

    it = background(broken())
    assert next(it) == 1
    with pytest.raises(ValueError, match="decoder broke"):
        next(it)


class Breaks(torch.nn.Module):
    """A model whose forward pass fails on its third batch."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, images):
        self.calls += 1
        if self.calls == 3:
            raise RuntimeError("CUDA out of memory (pretend)")
        return self.inner(images)


def test_failing_forward_stops_the_decoder_thread_and_writes_nothing(
    random_model, tiny_demo, tmp_path
):
    import threading

    before = set(threading.enumerate())
    out = tmp_path / "d.parquet"
    with pytest.raises(RuntimeError, match="pretend"):
        infer_shard(
            Breaks(random_model),
            IDS,
            tiny_demo["va"]["video"],
            "va",
            0,
            40,
            out,
            batch_size=2,
            overlap=True,
        )
    assert not out.exists() and not list(tmp_path.iterdir())
    assert set(threading.enumerate()) <= before  # no decoder left running


def test_malformed_rle_is_refused_by_the_run_geometry():
    from ethoflow.io import masks as M

    with pytest.raises(ValueError, match="covers 100 pixels, size says 5x5"):
        M.geometry({"size": [5, 5], "counts": [0, 100]})
    with pytest.raises(ValueError, match="size says"):
        M.shift({"size": [5, 5], "counts": [3, 4]}, 1, 1)


def test_mask_threshold_zero_is_refused_by_the_schema():
    """At 0 every pixel of the frame would belong to every mask (and the region encoding,
    which knows only the region, would disagree with it): the schema refuses it."""
    import copy
    from pathlib import Path

    import yaml
    from snakemake.exceptions import WorkflowError
    from snakemake.utils import validate

    root = Path(__file__).resolve().parents[1]
    cfg = yaml.safe_load((root / "config/config.yaml").read_text())
    schema = str(root / "config/schemas/config.schema.yaml")
    validate(copy.deepcopy(cfg), schema)
    cfg["model_settings"]["maskrcnn"]["infer"]["mask_threshold"] = 0
    with pytest.raises(WorkflowError, match="mask_threshold"):
        validate(cfg, schema)


def test_batched_model_inputs_equal_frame_by_frame_inputs():
    """The CUDA path stacks a batch (pinned) and converts it in one go; the tensors the model
    gets are the same values with the same strides as frame by frame (checked on the CPU)."""
    import numpy as np

    from ethoflow.tracking.infer import model_inputs

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (24, 40, 3), dtype=np.uint8) for _ in range(3)]
    one = model_inputs(frames, "cpu")
    batched = model_inputs(frames, "cpu", pinned=True)
    for a, b in zip(one, batched):
        assert a.shape == b.shape == (3, 24, 40) and a.stride() == b.stride()
        assert torch.equal(a, b) and float(a.max()) <= 1.0
