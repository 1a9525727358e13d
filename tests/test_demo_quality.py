"""The full-size demo, as the README's first command runs it: the quality bar per video."""

import pandas as pd
import pytest

from .conftest import copy_workflow, run_snakemake


@pytest.mark.slow
@pytest.mark.dag
def test_full_demo_reaches_mota_and_idf1_of_0_9_on_every_video_for_both_families(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    run_snakemake(wd)  # the default config: 3 videos x 300 frames, Mask R-CNN and YOLACT
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
        (m, v) for m in ("maskrcnn", "yolact") for v in ("demo_a", "demo_b", "demo_c")
    ]
    assert (summary["mota"] >= 0.90).all(), summary
    assert (summary["idf1"] >= 0.90).all(), summary
    html = (wd / "results/report/index.html").read_text()
    assert "demo_c" in html and "HOTA" in html and "inference frames/s" in html
    assert "overlays/yolact/demo_c.mp4" in html and "overlays/maskrcnn/demo_c.mp4" in html
