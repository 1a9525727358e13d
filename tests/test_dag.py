"""The real workflow, run by Snakemake on the tiny demo configuration."""

import json
import subprocess
import sys

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ethoflow.io.tracktable import TRACK_SCHEMA

from .conftest import TINY as CFG
from .conftest import copy_workflow, planned_jobs, run_snakemake

pytestmark = pytest.mark.dag


@pytest.fixture(scope="module")
def workflow(tiny_run):
    return tiny_run[0]


def test_demo_dag_produces_every_output(workflow):
    wd = workflow
    summary = pd.read_csv(wd / "results/metrics/summary.csv")
    assert sorted(zip(summary["model"], summary["video"])) == [
        (m, v) for m in ("classical", "maskrcnn", "yolact") for v in ("demo_a", "demo_b", "demo_c")
    ]
    assert summary["mota"].notna().all() and summary["idf1"].notna().all()
    models = summary[summary["kind"] == "model"]
    assert (models["infer_fps"] > 0).all()
    assert (summary.loc[summary["kind"] == "classical", "model"] == "classical").all()
    # the parts of each video: frames where truth animals touch are scored on their own
    assert summary["frames_touching"].notna().all()
    touching = summary[summary["frames_touching"] > 0]
    assert len(touching) >= 3 and (touching["num_objects_touching"] > 0).all()
    for m in ("maskrcnn", "yolact"):
        assert (wd / f"results/qa/tracks/{m}/demo_c.parquet").exists()
        assert (wd / f"results/qa/review/{m}/demo_c/queue.csv").exists()
    assert (wd / "results/qa/review/labels/queue.csv").exists()
    assert not summary.loc[summary["video"] == "demo_c", "labelled"].any()
    assert pd.read_parquet(wd / "results/metrics/summary.parquet").shape == summary.shape
    for v in ("demo_a", "demo_b", "demo_c"):
        for m in ("maskrcnn", "yolact"):
            t = pq.read_table(wd / f"results/tracks/{m}/{v}.parquet")
            assert t.schema.equals(TRACK_SCHEMA, check_metadata=False)
        assert len(json.loads((wd / f"results/probe/{v}.json").read_text())) > 0
        frames = json.loads((wd / f"results/frames/{v}/frames.json").read_text())["frames"]
        assert len(frames) == 4
    html = (wd / "results/report/index.html").read_text()
    for word in ("MOTA", "IDF1", "HOTA", "demo_c", "inference frames/s", "yolact"):
        assert word in html
    for m in ("maskrcnn", "yolact"):
        assert f"overlays/{m}/demo_c.mp4" in html
        assert (wd / f"results/report/overlays/{m}/demo_c.mp4").stat().st_size > 0
        log = pd.read_csv(wd / f"results/models/{m}/train_log.csv")
        assert list(log["iteration"]) == list(range(1, 7))
    assert "loss_conf" in pd.read_csv(wd / "results/models/yolact/train_log.csv").columns
    # every step logged something
    for f in (wd / "logs").rglob("*.log"):
        assert f.stat().st_size > 0, f


def test_second_run_does_nothing(workflow):
    assert planned_jobs(workflow, *CFG) == {}


def test_editing_one_label_reruns_exactly_what_depends_on_it(workflow):
    wd = workflow
    label = sorted((wd / "resources/demo/labels/demo_a").glob("*.json"))[0]
    doc = json.loads(label.read_text())
    doc["shapes"][0]["points"][0][0] += 1.0
    label.write_text(json.dumps(doc))
    probe_mtime = (wd / "results/probe/demo_a.json").stat().st_mtime
    jobs = planned_jobs(wd, *CFG)
    assert jobs == {
        "import_annotations": 1,
        "qa_labels": 1,
        "train": 2,  # maskrcnn, yolact
        "infer_shard": 12,  # 2 models x 3 videos x 2 shards
        "track": 6,
        "evaluate_coco": 2,
        # 2 models x 3 videos, and the classical baseline's 3: its labelled/unlabelled parts
        # read which frames the dataset holds
        "evaluate_tracks": 9,
        "summarize": 1,
        "aggregate": 1,
        "overlay": 2,
        "review_tracks": 2,  # the overlay video's review queue, per model
        "report": 1,
        "report_video": 3,  # every video's page: its tracks changed
        # behaviour: the maskrcnn tracks changed (the truth's features did not)
        "behaviour_features": 3,
        "behaviour_labels": 3,  # they read the frame count off the train tracker's features
        "behaviour_train": 2,  # tcn, trees
        "behaviour_predict": 12,  # 2 classifiers x 2 trackers x 3 videos
        "behaviour_metrics": 1,
        "behaviour_motifs": 1,
        "behaviour_report": 1,
        "all": 1,
    }
    run_snakemake(wd, *CFG)
    assert (wd / "results/probe/demo_a.json").stat().st_mtime == probe_mtime
    assert planned_jobs(wd, *CFG) == {}


def test_config_that_violates_the_schema_is_refused(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    (wd / "bad.yaml").write_text("inference:\n  shards: 0\n")
    proc = run_snakemake(wd, "-n", *CFG, "--configfile", "bad.yaml", check=False)
    assert proc.returncode != 0
    assert "shards" in proc.stdout + proc.stderr
    assert not (wd / "results").exists()


def test_tcn_auxiliary_heads_are_checked_when_the_plan_is_made(tmp_path):
    """The demo's behaviours are exclusive: auxiliary heads are refused before any job runs,
    and so is a head over a behaviour that does not exist."""
    wd = copy_workflow(tmp_path / "wf")
    for exclusive, aux, says in [
        ("true", "[explore, approach]", "exclusive: false"),
        ("false", "[explore, fly]", "moving: ['fly'] are not behaviours"),
    ]:
        (wd / "aux.yaml").write_text(
            f"behaviour:\n  exclusive: {exclusive}\n  tcn:\n    auxiliary: {{moving: {aux}}}\n"
        )
        proc = run_snakemake(wd, "-n", *CFG, "aux.yaml", check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0 and "behaviour.tcn.auxiliary" in out and says in out, out
    (wd / "aux.yaml").write_text(
        "behaviour:\n  exclusive: false\n  tcn:\n    auxiliary: {moving: [explore, approach]}\n"
    )
    assert planned_jobs(wd, *CFG, "aux.yaml")["behaviour_train"] == 2
    assert not (wd / "results").exists()


def test_a_missing_script_still_fails_the_plan(tmp_path):
    """Planning checks each `script:` file once per rule instead of once per job
    (rules/common.smk): a missing one must still stop the plan, naming the script."""
    wd = copy_workflow(tmp_path / "wf")
    assert planned_jobs(wd, *CFG)["infer_shard"] > 1
    (wd / "scripts" / "infer.py").unlink()
    proc = run_snakemake(wd, "-n", *CFG, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "No such file or directory" in out and "scripts/infer.py" in out
    assert not (wd / "results").exists()


def test_own_videos_plan_without_a_report_override(tiny_demo, tmp_path):
    """Switching the demo off is enough: the overlay default follows the videos (the demo's
    unlabelled one, none of your own) instead of naming demo_c; named ones are still checked."""
    wd = copy_workflow(tmp_path / "wf")
    va = tiny_demo["va"]
    mine = f"{{path: {va['video']}, labels: {va['labels']}}}"
    (wd / "user.yaml").write_text(f"demo: {{enabled: false}}\nvideos:\n  mine: {mine}\n")
    jobs = planned_jobs(wd, "--configfile", "user.yaml")
    assert jobs["infer_shard"] > 0 and "overlay" not in jobs
    (wd / "named.yaml").write_text("report: {overlay_videos: [mine, theirs]}\n")
    proc = run_snakemake(wd, "-n", "--configfile", "user.yaml", "named.yaml", check=False)
    assert proc.returncode != 0
    assert "report.overlay_videos names 'theirs', which is no video" in proc.stdout + proc.stderr


def test_default_demo_plans_behaviour_only_videos_and_null_drops_one(tmp_path):
    """The default demo: four behaviour-labelled scenes (two also detector-labelled) and the
    held-out demo_c, the only one with an overlay. An override drops a video with null and
    gives one its own shards; all null is an error."""
    wd = copy_workflow(tmp_path / "wf")
    jobs = planned_jobs(wd)
    assert jobs["demo_video"] == 5 and jobs["behaviour_labels"] == 5, jobs
    assert jobs["overlay"] == 2 and jobs["infer_shard"] == 20, jobs
    (wd / "drop.yaml").write_text("demo: {videos: {demo_d: null, demo_e: {shards: 1}}}\n")
    jobs = planned_jobs(wd, "--configfile", "drop.yaml")
    # demo_d gone; demo_e in one shard per model
    assert jobs["demo_video"] == 4 and jobs["infer_shard"] == 14, jobs
    none = ", ".join(f"demo_{v}: null" for v in "abcde")
    (wd / "none.yaml").write_text(f"demo: {{videos: {{{none}}}}}\n")
    proc = run_snakemake(wd, "-n", "--configfile", "none.yaml", check=False)
    assert proc.returncode != 0
    assert "demo.videos: every demo video is set to null" in proc.stdout + proc.stderr


def test_truncated_video_fails_its_probe_and_leaves_nothing(tiny_demo, tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    data = tiny_demo["va"]["video"].read_bytes()
    (wd / "cut.mp4").write_bytes(data[: len(data) // 3])
    (wd / "user.yaml").write_text(
        "demo: {enabled: false}\n"
        "videos:\n"
        f"  cut: {{path: cut.mp4, labels: {tiny_demo['va']['labels']}}}\n"
        "report: {overlay_videos: []}\n"
    )
    proc = run_snakemake(
        wd, "results/probe/cut.json", *CFG, "--configfile", "user.yaml", check=False
    )
    assert proc.returncode != 0
    log = (wd / "logs/probe/cut.log").read_text()
    assert "cut.mp4" in log and ("truncated" in log or "cannot open" in log)
    assert not (wd / "results/probe/cut.json").exists()
    assert (
        not list((wd / "results/probe").glob(".cut*")) if (wd / "results/probe").exists() else True
    )


def test_lint_is_clean():
    import subprocess

    from .conftest import REPO, snakemake_cmd

    proc = subprocess.run(snakemake_cmd("--lint"), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Congratulations" in proc.stdout + proc.stderr, proc.stdout + proc.stderr


def test_exports_are_jobs_of_their_own_and_rerun_nothing_else(workflow):
    """Turning exports on adds one job per model x video x format and re-runs nothing."""
    wd = workflow
    on = ("--config", "exports=[mot,annolid,pose]")
    jobs = planned_jobs(wd, *CFG, *on)
    assert jobs == {"export_mot": 6, "export_annolid": 6, "export_pose": 6, "all": 1}, jobs
    run_snakemake(wd, *CFG, *on)
    for m in ("maskrcnn", "yolact"):
        for v in ("demo_a", "demo_b", "demo_c"):
            tracks = pd.read_parquet(wd / f"results/tracks/{m}/{v}.parquet")
            lines = (wd / f"results/exports/{m}/{v}.mot.txt").read_text().splitlines()
            assert len(lines) == tracks["x1"].notna().sum()  # the tiny models find few
            assert all(int(line.split(",")[0]) >= 1 for line in lines)
            assert (wd / f"results/exports/{m}/{v}.annolid.csv").stat().st_size > 0
            pose = pd.read_hdf(wd / f"results/exports/{m}/{v}.pose.h5", "df_with_missing")
            assert len(pose) == 48  # every frame of the video, NaN where an animal is absent
    assert planned_jobs(wd, *CFG, *on) == {}


GC_AT_EXIT = """
import atexit, gc, sys
{preset}
atexit.register(lambda: print("GC-AT-EXIT", gc.get_freeze_count(), *gc.get_threshold()))
from snakemake.cli import main
sys.argv[0] = "snakemake"
main()
"""


@pytest.mark.parametrize(
    ("preset", "args", "frozen", "expected"),
    [
        ("", ("-n",), False, (100_000, 50, 50)),
        ("gc.set_threshold(500_000, 5)", ("-n",), False, (500_000, 50, 50)),
        ("gc.set_threshold(0)", ("-n",), False, (0, 10, 10)),
        ("", ("--", "resources/demo/truth/demo_c.parquet"), True, (700, 10, 10)),
    ],
    ids=["plan", "higher-kept", "off-kept", "real-run-restores"],
)
def test_planning_collects_garbage_less_often_then_as_usual(
    tmp_path, preset, args, frozen, expected
):
    """rules/common.smk raises the garbage collector's thresholds while Snakemake plans
    (bench/dag_scale.py --gc): each to at least 100,000 / 50 / 50, collection switched off (0)
    stays off. A real run, once its DAG is planned (onstart), freezes what planning made and
    goes back to the thresholds it started with."""
    wd = copy_workflow(tmp_path / "wf")
    code = GC_AT_EXIT.format(preset=preset)
    proc = subprocess.run(
        [sys.executable, "-c", code, "--cores", "1", *CFG, *args],
        cwd=wd,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    line = next(x for x in proc.stdout.splitlines() if x.startswith("GC-AT-EXIT"))
    freeze_count, *threshold = (int(v) for v in line.split()[1:])
    assert tuple(threshold) == expected
    assert (freeze_count > 0) == frozen
    if not frozen:
        assert not (wd / "resources").exists()
    else:
        assert (wd / "resources/demo/truth/demo_c.parquet").exists()
