"""The behaviour stage inside the real workflow (tiny demo), and the pose-only real project."""

import os
import shutil

import pandas as pd
import pyarrow.parquet as pq
import pytest

from .conftest import TINY as CFG
from .conftest import copy_workflow, planned_jobs, run_snakemake

pytestmark = pytest.mark.dag

BEHAVIOURS = ["explore", "approach", "investigate", "leave", "cross", "rest"]


@pytest.fixture(scope="module")
def workflow(tiny_run):
    return tiny_run[0]


def test_behaviour_outputs(workflow):
    wd = workflow
    for t in ("maskrcnn", "truth"):
        for v in ("demo_a", "demo_b", "demo_c"):
            f = wd / f"results/behaviour/features/{t}/{v}.parquet"
            meta = pq.read_schema(f).metadata
            assert b"ethoflow.features" in meta
            df = pd.read_parquet(f)
            assert set(df["animal"]) == {"mouse1", "mouse2", "mouse3"}
            assert df.groupby("animal")["frame"].nunique().eq(48).all()
            for c in ("tcn", "trees"):
                p = pd.read_parquet(wd / f"results/behaviour/predictions/{c}/{t}/{v}.parquet")
                assert len(p) == len(df)
                probs = p[[f"prob_{b}" for b in BEHAVIOURS + ["none"]]].sum(axis=1)
                assert (probs - 1).abs().max() < 1e-4
                assert set(p["label"]) <= set(BEHAVIOURS) | {"none"}
                bouts = pd.read_csv(wd / f"results/behaviour/bouts/{c}/{t}/{v}.csv")
                assert (bouts["stop_s"] > bouts["start_s"]).all()
                assert (wd / f"results/behaviour/boris/{c}/{t}/{v}.tsv").stat().st_size > 0
    m = pd.read_csv(wd / "results/behaviour/metrics.csv")
    for col in ("video", "classifier", "tracker", "macro_f1", "bout_f1", "split"):
        assert col in m.columns
    test = m[(m["video"] == "demo_c")]
    assert set(test["split"]) == {"test"}
    assert set(test["classifier"]) == {"tcn", "trees"}
    assert set(test["tracker"]) == {"maskrcnn", "truth"}
    assert m["macro_f1"].between(0, 1).all()
    assert (wd / "results/behaviour/motifs/assignments.parquet").exists()
    html = (wd / "results/report/behaviour.html").read_text()
    for word in ("Ethograms", "Time budgets", "Confusion", "motif", "tcn", "trees", "demo_c"):
        assert word in html


def test_editing_a_behaviour_label_plans_only_the_behaviour_steps(workflow):
    wd = workflow
    label = wd / "resources/demo/behaviour/demo_a.tsv"
    original, stat = label.read_text(), label.stat()
    lines = original.splitlines(keepends=True)
    time_s, rest = lines[-1].split("\t", 1)  # the last STOP, a few frames earlier
    lines[-1] = f"{float(time_s) - 0.1:.4f}\t{rest}"
    label.write_text("".join(lines))
    assert planned_jobs(wd, *CFG) == {
        "behaviour_labels": 1,
        "behaviour_train": 2,  # tcn, trees
        "behaviour_predict": 12,  # 2 classifiers x 2 trackers x 3 videos
        "behaviour_metrics": 1,
        "behaviour_report": 1,
        # the time budgets are aggregated per group, and the index report shows the groups
        "aggregate": 1,
        "report": 1,
        "all": 1,
    }
    # Put the file back as it was (content and time): nothing is left to do. Running these jobs
    # is covered by test_dag's label edit, which re-runs every one of them (CI time).
    label.write_text(original)
    os.utime(label, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert planned_jobs(wd, *CFG) == {}


def _oft_project(shared_data, root, *cfg):
    src = shared_data / "oft-rearing"
    if not src.is_dir():
        pytest.skip(f"{src} not found")
    wd = copy_workflow(root / "wf")
    (wd / "data").mkdir()
    (wd / "data" / "oft-rearing").symlink_to(src)
    shutil.rmtree(wd / "resources", ignore_errors=True)
    run_snakemake(wd, "--configfile", "config/examples/oft-rearing.yaml", *cfg)
    return wd


@pytest.fixture(scope="module")
def oft_fast(shared_data, tmp_path_factory):
    return _oft_project(shared_data, tmp_path_factory.mktemp("oft"), "oft-fast.yaml")


def test_pose_only_project_runs_the_behaviour_stage(oft_fast):
    wd = oft_fast
    assert not (wd / "results/tracks").exists()  # no video, no detection
    f = pd.read_parquet(wd / "results/behaviour/features/pose/OFT_44.parquet")
    assert f["frame"].nunique() == 1998 and set(f["animal"]) == {"animal"}
    assert not any(c.startswith(("tl_", "tr_", "bl_", "br_", "centre_")) for c in f.columns)
    assert f["edge_distance"].notna().mean() > 0.9
    # the head over the wall: the nose beyond the arena's edge on about a tenth of the frames
    nose = f["edge_distance_nose"]
    assert nose.notna().mean() > 0.9 and 0.02 < (nose < 0).mean() < 0.5
    assert f["pose_confident"].between(0, 1).all() and f["pose_confident"].mean() > 0.8
    m = pd.read_csv(wd / "results/behaviour/metrics.csv")
    cv = m[(m["split"] == "cv")]
    assert set(cv["reference"]) == {"truth", "Jin", "Furkan", "Oliver"}
    assert set(cv["classifier"]) == {"tcn", "trees"}
    agree = pd.read_csv(wd / "results/behaviour/agreement.csv")
    pairs = agree[agree["behaviour"] == "supported"]["f1"].round(3).sort_values().tolist()
    assert pairs == [0.848, 0.851, 0.874]  # the raters' own agreement, on the same frames
    per = pd.read_csv(wd / "results/behaviour/metrics_per_behaviour.csv")
    sup = per[(per["split"] == "cv") & (per["behaviour"] == "supported")]
    trees = sup[(sup["classifier"] == "trees") & (sup["reference"] == "truth")]["f1"].iloc[0]
    assert trees > 0.5  # 16% of the frames: always "rearing" would score 0.28
    assert (wd / "results/report/behaviour.html").stat().st_size > 0


@pytest.mark.slow
def test_open_field_supported_rearing_reaches_the_bar(shared_data, tmp_path):
    """The issue's bar, at the example config's seed; the README gives the spread over seeds
    (0.750-0.826, mean 0.794: the bar is not met by every seed)."""
    wd = _oft_project(shared_data, tmp_path)
    per = pd.read_csv(wd / "results/behaviour/metrics_per_behaviour.csv")
    sup = per[(per["split"] == "cv") & (per["behaviour"] == "supported")]
    tcn = sup[(sup["classifier"] == "tcn") & (sup["reference"] == "truth")]["f1"].iloc[0]
    assert tcn >= 0.80, sup
