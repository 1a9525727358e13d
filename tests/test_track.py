import numpy as np
import pandas as pd
import pytest

from ethoflow.evaluation.mot import evaluate_tracks
from ethoflow.io import tracktable
from ethoflow.tracking.identity import track

IDS = ["mouse1", "mouse2", "mouse3"]


@pytest.fixture(scope="module")
def truth(tiny_demo):
    return tracktable.read(tiny_demo["va"]["truth"])


def detections_from_truth(truth, class_scores=None, drop=()):
    """Perfect masks; ``class_scores(frame, identity) -> vector``; ``drop``: (frame, identity)."""
    rows = []
    for (f, ident), r in truth.set_index(["frame", "identity"]).iterrows():
        if (f, ident) in drop:
            continue
        cs = np.eye(3)[IDS.index(ident)] * 0.9 + 0.03
        if class_scores is not None:
            cs = np.asarray(class_scores(f, ident), dtype=float)
        k = int(np.argmax(cs))
        rows.append(
            dict(
                video="va",
                frame=f,
                det=0,
                identity=IDS[k],
                score=float(cs[k]),
                class_scores=list(cs),
                x1=r.x1,
                y1=r.y1,
                x2=r.x2,
                y2=r.y2,
                mask_area=int(r.area),
                mask=r["mask"],
            )
        )
    df = pd.DataFrame(rows)
    df["det"] = df.groupby("frame").cumcount()
    return df


def run(dets, truth, **params):
    n = int(truth["frame"].max()) + 1
    return track(dets, video="va", model="m", identities=IDS, n_frames=n, fps=30.0, params=params)


def test_perfect_detections_give_perfect_tracks(truth):
    out = run(detections_from_truth(truth), truth)
    r = evaluate_tracks(out, truth)
    assert r["mota"] == 1.0 and r["idf1"] == 1.0 and r["identity_accuracy"] == 1.0
    assert len(out) == len(truth)
    tracktable.to_arrow(out)  # satisfies the schema


def test_unsure_classifier_is_carried_by_overlap_with_the_previous_mask(truth):
    # from frame 10 on, the classifier cannot tell mouse1 from mouse2 (0.45 / 0.40)
    def cs(f, ident):
        if f < 10 or ident == "mouse3":
            return np.eye(3)[IDS.index(ident)] * 0.9 + 0.03
        return [0.45, 0.40, 0.15]

    out = run(detections_from_truth(truth, cs), truth)
    r = evaluate_tracks(out, truth)
    assert r["identity_accuracy"] == 1.0 and r["id_switches"] == 0


def test_one_confidently_wrong_frame_does_not_swap_identities(truth):
    # frame 20: the classifier swaps mouse1 and mouse2 with 0.6 against 0.3
    def cs(f, ident):
        if f == 20 and ident in ("mouse1", "mouse2"):
            wrong = 1 - IDS.index(ident)
            v = np.full(3, 0.05)
            v[wrong], v[IDS.index(ident)] = 0.6, 0.3
            return v
        return np.eye(3)[IDS.index(ident)] * 0.9 + 0.03

    dets = detections_from_truth(truth, cs)
    out = run(dets, truth)
    assert evaluate_tracks(out, truth)["id_switches"] == 0
    # Annolid's rule (best detection per class) swaps them on that frame
    naive = dets.sort_values("score", ascending=False).groupby(["frame", "identity"]).head(1)
    f20 = naive[naive["frame"] == 20].set_index("identity")
    t20 = truth[truth["frame"] == 20].set_index("identity")
    assert f20.loc["mouse1", "x1"] == t20.loc["mouse2", "x1"]


def test_duplicate_candidates_of_one_animal_become_one_object(truth):
    dets = detections_from_truth(truth)
    dup = dets[dets["identity"] == "mouse1"].copy()
    dup["identity"], dup["score"] = "mouse3", 0.35  # same mask, second-best class
    out = run(pd.concat([dets, dup]).sort_values("frame"), truth)
    assert evaluate_tracks(out, truth)["false_positives"] == 0


def test_short_gaps_are_interpolated_and_long_ones_are_not(truth):
    short = {(f, "mouse2") for f in range(10, 13)}
    long_ = {(f, "mouse3") for f in range(20, 32)}
    out = run(detections_from_truth(truth, drop=short | long_), truth, max_gap=5)
    interp = out[out["source"] == "interpolated"]
    assert set(zip(interp["frame"], interp["identity"])) == short
    assert not interp["score"].notna().any()
    assert not any((f, i) in long_ for f, i in zip(out["frame"], out["identity"]))
    r = evaluate_tracks(out, truth)
    assert r["misses"] == len(long_)  # interpolated masks still match the truth


def write_shard(dets: pd.DataFrame, path, stats: dict | None) -> None:
    """A detection shard as infer_shard writes it, with or without inference statistics."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    from ethoflow.io.detections import DETECTION_SCHEMA

    table = pa.Table.from_pandas(dets, schema=DETECTION_SCHEMA, preserve_index=False)
    if stats is not None:
        table = table.replace_schema_metadata(
            {**table.schema.metadata, b"ethoflow": json.dumps(stats).encode()}
        )
    pq.write_table(table, path)


def test_track_table_carries_the_summed_inference_stats(truth, tmp_path):
    import json

    import pyarrow.parquet as pq

    from ethoflow.io.detections import read_detections
    from ethoflow.tracking.identity import infer_stats

    dets = detections_from_truth(truth)
    shards = [tmp_path / "shard-0.parquet", tmp_path / "shard-1.parquet"]
    write_shard(dets[dets["frame"] < 20], shards[0], {"frames": 20, "seconds": 2.5, "device": "x"})
    write_shard(dets[dets["frame"] >= 20], shards[1], {"frames": 20, "seconds": 1.5})
    out = run(read_detections(shards), truth)
    path = tmp_path / "tracks" / "va.parquet"
    tracktable.write(out, path, stats=infer_stats(shards))

    schema = pq.read_schema(path)
    assert json.loads(schema.metadata[b"ethoflow"]) == {"infer_frames": 40, "infer_seconds": 4.0}
    assert tracktable.read_stats(path) == {"infer_frames": 40, "infer_seconds": 4.0}
    # same columns and types as ever; the schema's own descriptions are kept
    assert schema.equals(tracktable.TRACK_SCHEMA, check_metadata=False)
    assert schema.metadata[b"source"] == tracktable.TRACK_SCHEMA.metadata[b"source"]
    back = tracktable.read(path)
    pd.testing.assert_frame_equal(back, tracktable.to_arrow(out).to_pandas())

    # shards without statistics: the track table says so, and one without any has none
    write_shard(dets, shards[0], None)
    assert infer_stats(shards[:1]) == {"infer_frames": None, "infer_seconds": None}
    tracktable.write(out, path)
    assert tracktable.read_stats(path) == {}


def test_an_animal_of_uncertain_identity_is_kept_by_its_animal_probability(truth):
    # every identity at 0.2: no class reaches min_score 0.3, but P(animal) = 0.6 does; the
    # previous-mask overlap then carries identity (frame 0 is confident, so tracks start).
    def spread(f, ident):
        if f == 0:
            return np.eye(3)[IDS.index(ident)] * 0.9 + 0.03
        return [0.2, 0.2, 0.2]

    out = run(detections_from_truth(truth, spread), truth, min_score=0.3)
    r = evaluate_tracks(out, truth)
    assert r["misses"] == 0 and r["identity_accuracy"] == 1.0
    # below min_score as an animal too: dropped
    out = run(detections_from_truth(truth, lambda f, i: [0.05, 0.05, 0.05]), truth, min_score=0.3)
    assert len(out) == 0
