"""The full-size demo, as the README's first command runs it: the quality bar per video."""

import pandas as pd
import pytest

from .conftest import copy_workflow, run_snakemake

#: Share of the animals in touching frames that are missed (measured in the README's run).
MODEL_MISSED_TOUCHING = 0.1
CLASSICAL_MISSED_TOUCHING = 0.3


@pytest.fixture(scope="module")
def full_demo(tmp_path_factory):
    """The default config run once: demo_a, demo_b, demo_d, demo_e 675 frames, demo_c 900,
    both families."""
    wd = copy_workflow(tmp_path_factory.mktemp("full") / "wf")
    run_snakemake(wd)
    return wd


@pytest.mark.slow
@pytest.mark.dag
def test_full_demo_reaches_mota_and_idf1_of_0_9_on_every_video_for_both_families(full_demo):
    wd = full_demo
    summary = pd.read_csv(wd / "results/metrics/summary.csv")
    print(
        summary[
            [
                "model",
                "video",
                "labelled",
                "mota",
                "idf1",
                "hota",
                "id_switches",
                "identity_accuracy",
                "coco_segm_ap",
                "infer_fps",
            ]
        ].to_string()
    )
    assert sorted(zip(summary["model"], summary["video"])) == [
        (m, f"demo_{v}") for m in ("classical", "maskrcnn", "yolact") for v in "abcde"
    ]
    models = summary[summary["kind"] == "model"]
    assert (models["mota"] >= 0.90).all(), summary
    assert (models["idf1"] >= 0.90).all(), summary
    # Where animals touch, the models split them and keep every identity present; the classical
    # baseline sees one blob there and loses animals for whole stretches.
    missed = summary["misses_touching"] / summary["num_objects_touching"]
    cols = ["model", "video", "frames_touching", "misses_touching", "missed_touching"]
    print(summary.assign(missed_touching=missed)[cols].to_string())
    assert (summary["frames_touching"] >= 20).all(), summary
    assert (missed[models.index] <= MODEL_MISSED_TOUCHING).all(), missed
    classical = summary.index[summary["model"] == "classical"]
    assert (missed[classical] >= CLASSICAL_MISSED_TOUCHING).all(), missed
    html = (wd / "results/report/index.html").read_text()
    assert "demo_c" in html and "HOTA" in html and "inference frames/s" in html
    assert "overlays/yolact/demo_c.mp4" in html and "overlays/maskrcnn/demo_c.mp4" in html


@pytest.mark.slow
@pytest.mark.dag
def test_full_demo_behaviour_reaches_the_bar(full_demo):
    """The issue's bar: TCN macro F1 >= 0.85 and bout F1 >= 0.90 on demo_c from the Mask R-CNN
    tracks (the tracker the classifiers learn from); measured 0.870 / 0.935."""
    m = pd.read_csv(full_demo / "results/behaviour/metrics.csv")
    row = m[
        (m["classifier"] == "tcn")
        & (m["tracker"] == "maskrcnn")
        & (m["video"] == "demo_c")
        & (m["split"] == "test")
    ]
    print(m[m["video"] == "demo_c"].to_string())
    assert len(row) == 1
    assert row["macro_f1"].iloc[0] >= 0.85 and row["bout_f1"].iloc[0] >= 0.90, row
