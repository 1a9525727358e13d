"""A facility's run driven by a video sheet: the whole DAG on nine small rendered videos in
four cohorts (three with animals of their own, one borrowing a model) and two groups: a model per
cohort, aggregates per group, and the job lists of editing one cohort's labels, growing the
sheet and editing a condition. Bad sheets stop the run before any job, naming row and column."""

import json
import shutil

import pandas as pd
import pytest

from ethoflow.demo import make_demo_video

from .conftest import copy_workflow, planned_jobs, run_snakemake

pytestmark = pytest.mark.dag

#: video -> (seed, labelled frames, cohort, group)
VIDEOS = {
    "cA_1": (31, 6, "cageA", "wt"),
    "cA_2": (32, 0, "cageA", "ko"),
    "cA_3": (37, 0, "cageA", "wt"),
    "cB_1": (33, 6, "cageB", "wt"),
    "cB_2": (34, 0, "cageB", "ko"),
    "cB_3": (38, 0, "cageB", "ko"),
    "cD_1": (39, 6, "cageD", "wt"),
    "cD_2": (40, 0, "cageD", "ko"),
    "cC_1": (36, 0, "cageC", "ko"),  # cageC's animals wear cageA's markings: its model
}
MICE, RATS = ("mouse1", "mouse2", "mouse3"), ("ratA", "ratB", "ratC")
VOLES = ("vole_red", "vole_blue", "vole_green")
IDENTITIES = {"cageA": MICE, "cageB": RATS, "cageC": MICE, "cageD": VOLES}
COHORTS = (
    "cohorts:\n"
    f"  cageA: {{identities: [{', '.join(MICE)}]}}\n"
    f"  cageB: {{identities: [{', '.join(RATS)}]}}\n"
    "  cageC: {model_from: cageA}\n"
    f"  cageD: {{identities: [{', '.join(VOLES)}]}}\n"
)
HEADER = "video\tpath\tcohort\tgroup\tlabels\ttruth\tgenotype\tshards\n"
CFG = ("--configfile", "tiny.yaml", "sheet.yaml")


def render(data, name, seed, n_labelled, identities=MICE):
    make_demo_video(
        data / "videos" / f"{name}.mp4",
        data / "truth" / f"{name}.parquet",
        data / "labels" / name,
        name=name,
        seed=seed,
        n_frames=30,
        size=128,
        identities=identities,
        n_labelled=n_labelled,
    )


def sheet_row(name, cohort, group, labelled=True):
    labels = f"labels/{name}" if labelled else ""
    cells = [name, f"videos/{name}.mp4", cohort, group, labels, f"truth/{name}.parquet", group, "1"]
    return "\t".join(cells) + "\n"


@pytest.fixture(scope="module")
def facility(tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("sheet") / "wf")
    data = wd / "data"
    for name, (seed, n_lab, cohort, _) in VIDEOS.items():
        render(data, name, seed, n_lab, IDENTITIES[cohort])
    render(data, "cA_9", 35, 0)  # appended to the sheet by a test
    rows = "".join(sheet_row(v, c, g, n > 0) for v, (_, n, c, g) in VIDEOS.items())
    (data / "videos.tsv").write_text(HEADER + rows)
    (wd / "sheet.yaml").write_text(
        "demo: {enabled: false}\n"
        "video_sheet: data/videos.tsv\n"
        "models: [maskrcnn]\n"  # one family keeps the run short; test_dag runs both
        "baselines: {classical: false}\n"
        "report: {overlay_videos: []}\n"
        "aggregate: {compare: [[wt, ko]]}\n" + COHORTS
    )
    run_snakemake(wd, *CFG)
    return wd


def test_a_sheet_runs_end_to_end_with_aggregates_per_group(facility):
    wd = facility
    summary = pd.read_csv(wd / "results/metrics/summary.csv")
    assert sorted(set(summary["video"])) == sorted(VIDEOS)
    assert set(summary["model"]) == {"maskrcnn"}
    # every cohort that trains has its own models; cageC borrows cageA's
    for cohort in ("cageA", "cageB", "cageD"):
        assert (wd / f"results/models/{cohort}/maskrcnn/model.pt").exists()
        assert (wd / f"results/dataset/{cohort}/train.json").exists()
    assert not (wd / "results/models/cageC").exists()
    assert not (wd / "results/models/maskrcnn").exists()
    # the cohort whose model tracks each video (cageC's: cageA's)
    expected = {v: ("cageA" if c == "cageC" else c) for v, (_, _, c, _) in VIDEOS.items()}
    assert dict(zip(summary["video"], summary["model_cohort"])) == expected
    classes = {}
    for c in ("cageA", "cageB", "cageD"):
        doc = json.loads((wd / f"results/dataset/{c}/train.json").read_text())
        classes[c] = [x["name"] for x in doc["categories"]]
    assert classes == {"cageA": list(MICE), "cageB": list(RATS), "cageD": list(VOLES)}
    ids = {
        v: set(pd.read_parquet(wd / f"results/tracks/maskrcnn/{v}.parquet")["identity"])
        for v in VIDEOS
    }
    for v, (_, _, cohort, _) in VIDEOS.items():
        assert ids[v] <= set(IDENTITIES[cohort]), (v, ids[v])
    html = (wd / "results/report/index.html").read_text()
    assert "cageA/maskrcnn" in html and "cageB/maskrcnn" in html
    groups = pd.read_csv(wd / "results/aggregate/groups.csv")
    mota = groups[(groups["measure"] == "mota") & (groups["source"] == "maskrcnn")]
    assert {(r.by, r.level): r.n for r in mota.itertuples()} == {
        ("group", "wt"): 4,
        ("group", "ko"): 5,
        ("cohort", "cageA"): 3,
        ("cohort", "cageB"): 3,
        ("cohort", "cageC"): 1,
        ("cohort", "cageD"): 2,
    }
    videos = pd.read_parquet(wd / "results/aggregate/videos.parquet")
    assert set(videos["genotype"]) == {"wt", "ko"}  # condition columns carried along
    tests = pd.read_csv(wd / "results/aggregate/tests.csv")
    assert set(tests["a"]) == {"wt"}
    assert (tests["n_a"] == 4).all() and (tests["n_b"] == 5).all()
    assert 'id="groups"' in html and "maskrcnn by group" in html


def test_editing_one_label_of_a_cohort_reruns_that_cohort_only(facility):
    wd = facility
    label = sorted((wd / "data/labels/cA_1").glob("*.json"))[0]
    before = label.read_text()
    doc = json.loads(before)
    doc["shapes"][0]["points"][0][0] += 1.0
    try:
        label.write_text(json.dumps(doc))
        jobs = planned_jobs(wd, *CFG)
    finally:
        label.write_text(before)
    # cageA's dataset, QA and models; the videos they infer: cageA's three and cageC's one;
    # nothing of cageB or cageD
    assert jobs == {
        "import_annotations": 1,
        "qa_labels": 1,
        "train": 1,
        "evaluate_coco": 1,
        "infer_shard": 4,  # 4 videos x 1 model x 1 shard
        "track": 4,
        "evaluate_tracks": 4,
        "summarize": 1,
        "aggregate": 1,
        "report": 1,
        "report_video": 4,
        "all": 1,
    }


def test_editing_a_condition_reruns_the_aggregates_and_the_report_only(facility):
    wd = facility
    sheet = wd / "data" / "videos.tsv"
    before = sheet.read_text()
    try:
        # the genotype of every ko row
        sheet.write_text(before.replace("\tko\t1\n", "\tko-het\t1\n"))
        assert planned_jobs(wd, *CFG) == {"aggregate": 1, "report": 1, "all": 1}
        sheet.write_text(before.replace("\tcageB\tko\t", "\tcageB\twt\t"))  # a group
        assert planned_jobs(wd, *CFG) == {"aggregate": 1, "report": 1, "all": 1}
    finally:
        sheet.write_text(before)
    assert planned_jobs(wd, *CFG) == {}


def test_appending_a_video_runs_only_that_videos_jobs(facility):
    wd = facility
    sheet = wd / "data" / "videos.tsv"
    before = sheet.read_text()
    try:
        sheet.write_text(before + sheet_row("cA_9", "cageA", "ko", labelled=False))
        jobs = planned_jobs(wd, *CFG)
    finally:
        sheet.write_text(before)
    per_video = {"probe", "extract_frames", "infer_shard", "track", "evaluate_tracks"}
    assert set(jobs) == per_video | {"summarize", "aggregate", "report", "report_video", "all"}
    assert jobs["report_video"] == 1  # the new video's page; the others are not rebuilt
    assert jobs["probe"] == 1 and jobs["infer_shard"] == 1 and jobs["track"] == 1
    # nothing trains again, no other video is inferred again


@pytest.mark.parametrize(
    "row,problem",
    [
        ("cA_1\tvideos/cA_1.mp4\tcageA\twt\t\t\twt\t1\n", "duplicate video name 'cA_1'"),
        ("cX\tvideos/nope.mp4\tcageA\twt\t\t\twt\t1\n", "column 'path': file not found"),
        ("c X\tvideos/cA_9.mp4\tcageA\twt\t\t\twt\t1\n", "column 'video'"),
        ("cX\tvideos/cA_9.mp4\tcageZ\twt\t\t\twt\t1\n", "column 'cohort': unknown cohort"),
    ],
)
def test_a_bad_sheet_stops_before_any_job(facility, tmp_path, row, problem):
    wd = copy_workflow(tmp_path / "wf")
    shutil.copytree(facility / "data", wd / "data")
    shutil.copy2(facility / "sheet.yaml", wd / "sheet.yaml")
    sheet = wd / "data" / "videos.tsv"
    sheet.write_text(sheet.read_text() + row)
    proc = run_snakemake(wd, *CFG, check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert f"data/videos.tsv: row {len(VIDEOS) + 1} (line {len(VIDEOS) + 2})" in out, out
    assert problem in out, out
    assert not (wd / "results").exists()


@pytest.mark.parametrize(
    "extra,problem",
    [
        ("aggregate: {compare: [[wt, het]]}", "aggregate.compare: group 'het' has no videos"),
        (
            "aggregate: {compare: [[wt, ko]], compare_by: litter}",
            "compare_by 'litter' is no condition column",
        ),
        ("cohorts: {cageA: {identities: [a], model_from: cageB}}", "should not be valid"),
    ],
)
def test_bad_aggregate_and_cohort_settings_stop_the_plan(facility, tmp_path, extra, problem):
    (facility / "bad.yaml").write_text(extra + "\n")
    proc = run_snakemake(facility, "-n", *CFG, "bad.yaml", check=False)
    assert proc.returncode != 0 and problem in proc.stdout + proc.stderr
