"""The full-size demo, as the README's first command runs it: the quality bar per video."""

import pandas as pd
import pytest

from .conftest import copy_workflow, run_snakemake


@pytest.mark.slow
@pytest.mark.dag
def test_full_demo_reaches_mota_and_idf1_of_0_9_on_every_video(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    run_snakemake(wd)  # the default config: 3 videos x 300 frames, 360 training iterations
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
            ]
        ].to_string()
    )
    assert sorted(summary["video"]) == ["demo_a", "demo_b", "demo_c"]
    assert (summary["mota"] >= 0.90).all(), summary
    assert (summary["idf1"] >= 0.90).all(), summary
    html = (wd / "results/report/index.html").read_text()
    assert "demo_c" in html and "HOTA" in html
