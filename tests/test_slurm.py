"""The workflow on a live SLURM cluster: ``--profile profiles/slurm`` against real slurmctld,
slurmd and slurmdbd daemons (tests/slurm/cluster.sh), every job a real sbatch submission, every
claim checked in the accounting database (sacct).

The cluster needs root and Debian's packages. Where it cannot come up the tests are skipped,
except in CI (CI=true) or with ETHOFLOW_REQUIRE_SLURM=1, where that is a failure.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
import yaml

from .conftest import REPO, TINY, copy_workflow, planned_jobs, snakemake_cmd

pytestmark = [pytest.mark.dag, pytest.mark.slurm]

CLUSTER = REPO / "tests" / "slurm" / "cluster.sh"
CFG = (*TINY, "slurm.yaml")
# what the test cluster needs beyond the profile: sacct is asked 1 s after submission (40 s in
# the profile, sized for a busy cluster), and it has no accounts to guess from
CLUSTER_ARGS = ("--slurm-init-seconds-before-status-checks", "1", "--slurm-no-account")
# measured quantities that differ between any two runs; everything else must be identical
TIMING = re.compile(r"(seconds|_fps)$")


@pytest.fixture(scope="session")
def slurm_env():
    required = os.environ.get("CI") == "true" or os.environ.get("ETHOFLOW_REQUIRE_SLURM") == "1"
    proc = subprocess.run([str(CLUSTER), "up"], capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        msg = f"no SLURM test cluster ({CLUSTER} up): {proc.stderr.strip()[-1500:]}"
        if required:
            pytest.fail(msg)
        pytest.skip(msg)
    conf = subprocess.run([str(CLUSTER), "env"], capture_output=True, text=True, check=True)
    env = dict(os.environ, SLURM_CONF=conf.stdout.strip().split("=", 1)[1])
    yield env
    subprocess.run([str(CLUSTER), "down"], capture_output=True, text=True)


def cluster_cmd(*args: str, cfg: tuple = CFG) -> list[str]:
    return snakemake_cmd("--profile", "profiles/slurm", *cfg, *CLUSTER_ARGS, *args)


def submit(
    wd: Path, env: dict, *args: str, cfg: tuple = CFG, check: bool = True
) -> subprocess.CompletedProcess:
    """One snakemake run through the SLURM executor, as a user would start it."""
    cmd = cluster_cmd(*args, cfg=cfg)
    proc = subprocess.run(cmd, cwd=wd, env=env, capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        out = f"{proc.stdout[-6000:]}\n{proc.stderr[-6000:]}"
        raise AssertionError(f"snakemake on SLURM failed:\n{out}")
    return proc


def now() -> str:
    return datetime.now().strftime("%Y-%m-%dT%H:%M:%S")


def sacct(env: dict, wd: Path, since: str) -> pd.DataFrame:
    """Every SLURM job (array tasks one by one) submitted from ``wd`` since ``since``: id,
    state and the rule it ran (the executor puts ``rule_<name>_wildcards_...`` in the comment)."""
    out = subprocess.run(
        ["sacct", "-X", "-P", "-n", "-S", since, "-o", "JobID,State,WorkDir,Comment"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        jobid, state, workdir, comment = line.split("|", 3)
        if Path(workdir) != wd:
            continue
        m = re.match(r"rule_(.+?)(?:_wildcards_|$)", comment)
        rows.append({"jobid": jobid, "state": state, "rule": m[1] if m else comment})
    return pd.DataFrame(rows, columns=["jobid", "state", "rule"])


def profile_groups() -> dict[str, str]:
    return yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())["groups"]


def running_job(env: dict, wd: Path, rule: str) -> str | None:
    """The id of a running SLURM job of ``rule`` submitted from ``wd`` (from squeue: sacct has
    a job's comment only once it ended)."""
    queue = subprocess.run(
        ["squeue", "-h", "-t", "RUNNING", "-o", "%i|%k|%Z"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    for line in queue.splitlines():
        jobid, comment, workdir = line.split("|", 2)
        if Path(workdir) == wd and re.match(rf"rule_{rule}(_wildcards_|$)", comment):
            return jobid
    return None


def submitted(jobs: pd.DataFrame) -> dict[str, int]:
    """SLURM jobs per rule; a group job counts under its group's name (the executor's comment
    names it `<group>_<its rules, sorted>`)."""
    groups = profile_groups()
    label = {
        f"{g}_{'_'.join(sorted(r for r, gr in groups.items() if gr == g))}": g
        for g in set(groups.values())
    }
    return dict(Counter(label.get(r, r) for r in jobs["rule"]))


def expected_submissions(planned: dict[str, int]) -> dict[str, int]:
    """SLURM jobs for the jobs Snakemake plans: one per job, except that the profile's groups
    run each chain of their rules (one per video) as one SLURM job, and
    `all` (it only collects the targets) is finished by Snakemake itself."""
    groups = profile_groups()
    out: dict[str, int] = {}
    for rule, n in planned.items():
        if rule == "all":
            continue
        name = groups.get(rule, rule)
        out[name] = max(out.get(name, 0), n) if rule in groups else n
    return out


def without_timing(obj):
    if isinstance(obj, dict):
        return {k: without_timing(v) for k, v in obj.items() if not TIMING.search(k)}
    if isinstance(obj, list):
        return [without_timing(v) for v in obj]
    return obj


def same_result(a: Path, b: Path) -> bool:
    """Equal content, measured timings aside: Parquet tables (not their metadata), JSON, CSV
    columns, model weights and settings; other files byte for byte."""
    if a.suffix == ".parquet":
        return (
            pq.read_table(a)
            .replace_schema_metadata(None)
            .equals(pq.read_table(b).replace_schema_metadata(None))
        )
    if a.suffix == ".json":
        return without_timing(json.loads(a.read_text())) == without_timing(
            json.loads(b.read_text())
        )
    if a.suffix == ".csv":
        da, db = pd.read_csv(a), pd.read_csv(b)
        keep = [c for c in da.columns if not TIMING.search(c)]
        return list(da.columns) == list(db.columns) and da[keep].equals(db[keep])
    if a.suffix == ".pt":
        ma = torch.load(a, map_location="cpu", weights_only=True)
        mb = torch.load(b, map_location="cpu", weights_only=True)
        sa, sb = ma.pop("state_dict"), mb.pop("state_dict")
        return (
            sa.keys() == sb.keys()
            and all(torch.equal(sa[k], sb[k]) for k in sa)
            and without_timing(ma) == without_timing(mb)
        )
    return a.read_bytes() == b.read_bytes()


@pytest.fixture(scope="module")
def cluster_run(slurm_env, tmp_path_factory):
    wd = copy_workflow(tmp_path_factory.mktemp("slurm-wf"))
    planned = planned_jobs(wd, *CFG)
    since = now()
    submit(wd, slurm_env)
    return wd, planned, sacct(slurm_env, wd, since)


def test_demo_dag_runs_as_slurm_jobs_that_all_complete(cluster_run):
    wd, planned, jobs = cluster_run
    assert planned["infer_shard"] == 6  # 1 model x 3 videos x 2 shards
    # every planned job was one SLURM job (array tasks included), and each one COMPLETED
    assert submitted(jobs) == expected_submissions(planned)
    assert (jobs["state"] == "COMPLETED").all(), jobs[jobs["state"] != "COMPLETED"]
    # a video's probe and frame extraction ran as one job: 3 videos, 3 jobs, not 6
    assert submitted(jobs)["frames"] == 3
    # nothing is left to do
    assert planned_jobs(wd, *CFG) == {}


def test_cluster_results_equal_a_local_run(cluster_run, tiny_reference):
    wd = cluster_run[0]
    compared = 0
    for part in ("resources", "results"):
        for f in sorted((wd / part).rglob("*")):
            rel = f.relative_to(wd)
            if not f.is_file() or f.name == "index.html":  # the report prints run times
                continue
            assert (tiny_reference / rel).exists(), f"{rel}: not made by the local run"
            if f.parent.name == "metrics" and f.stem == "summary":
                continue  # one row per model x video: compared below
            if rel.parent.as_posix() in ("results/aggregate", "results/report/videos"):
                # run-wide tables and per-video pages list every tracker of the run (the local
                # run has two families, the classical baseline and behaviour): compared below
                continue
            assert same_result(f, tiny_reference / rel), f"{rel}: differs from the local run"
            compared += 1
    assert compared > 40
    # the local run trained both families; the cluster run, its models' rows only
    ours = pd.read_parquet(wd / "results/metrics/summary.parquet")
    local = pd.read_parquet(tiny_reference / "results/metrics/summary.parquet")
    local = local[local["model"].isin(ours["model"])].reset_index(drop=True)
    keep = [c for c in ours.columns if not TIMING.search(c)]
    assert list(ours["model"].unique()) == ["maskrcnn"] and len(ours) == 3
    assert list(local.columns) == list(ours.columns)
    # values, not dtypes: the local summary also holds the classical baseline's rows, whose
    # missing inference figures make those columns float there
    pd.testing.assert_frame_equal(ours[keep], local[keep], check_dtype=False)
    assert (wd / "results/report/index.html").stat().st_size > 0
    # the model's per-video measures are the same in both runs
    order = ["video", "source", "animal", "measure"]
    agg = pd.read_parquet(wd / "results/aggregate/videos.parquet")
    ref = pd.read_parquet(tiny_reference / "results/aggregate/videos.parquet")
    ref = ref[ref["source"] == "maskrcnn"].sort_values(order).reset_index(drop=True)
    assert len(agg) and set(agg["source"]) == {"maskrcnn"}
    agg = agg.sort_values(order).reset_index(drop=True)
    pd.testing.assert_frame_equal(agg[order + ["value"]], ref[order + ["value"]])
    for v in DEMO_VIDEOS:
        assert "maskrcnn" in (wd / f"results/report/videos/{v}.html").read_text()


# What editing one label of demo_a changes: the training set, so the model, and everything made
# from the model. Not the demo videos, their probes or their frames.
LABEL_EDIT_PLAN = {
    "import_annotations": 1,
    "qa_labels": 1,
    "train": 1,
    "infer_shard": 6,
    "track": 3,
    "evaluate_coco": 1,
    "evaluate_tracks": 3,
    "summarize": 1,
    "aggregate": 1,
    "overlay": 1,
    "review_tracks": 1,
    "report": 1,
    "report_video": 3,
    "all": 1,
}
_TINY = yaml.safe_load((REPO / "tests/configs/tiny.yaml").read_text())
# the tiny config drops the default's behaviour-only videos with null
DEMO_VIDEOS = [v for v, spec in _TINY["demo"]["videos"].items() if spec is not None]
# what depends on one video's tracks beside its evaluation: its overlay and review queue (only
# for the report's overlay videos), the summary and the report
OVERLAY_VIDEOS = _TINY["report"]["overlay_videos"]


def run_cancelling(
    wd: Path, env: dict, cfg: tuple, rule: str, ready=lambda: True
) -> tuple[str, subprocess.CompletedProcess]:
    """One snakemake run on the cluster (no retries) during which the first running SLURM job of
    ``rule`` is ``scancel``-ed as soon as ``ready()`` holds; returns its job id and the run."""
    cmd = cluster_cmd("--retries", "0", cfg=cfg)
    with subprocess.Popen(
        cmd, cwd=wd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as run:
        cancelled = None
        deadline = time.monotonic() + 300
        while cancelled is None and time.monotonic() < deadline and run.poll() is None:
            if ready():
                cancelled = running_job(env, wd, rule)
            time.sleep(0.2)
        if cancelled:
            subprocess.run(["scancel", cancelled], env=env, check=True)
        log = run.communicate(timeout=600)[0]
    assert cancelled, f"no running {rule} job was seen to cancel:\n{log[-4000:]}"
    return cancelled, subprocess.CompletedProcess(cmd, run.returncode, log)


def new_jobs(env: dict, wd: Path, since: str, seen: set[str]) -> pd.DataFrame:
    """The SLURM jobs submitted from ``wd`` since ``since`` that are not in ``seen`` (then added
    to it): sacct's -S also lists jobs that were still ending at that second."""
    jobs = sacct(env, wd, since)
    jobs = jobs[~jobs["jobid"].isin(seen)].reset_index(drop=True)
    seen.update(jobs["jobid"])
    return jobs


@pytest.fixture(scope="module")
def label_edit_runs(cluster_run, slurm_env):
    """After the cluster run: one label of demo_a is edited, and the re-run meets the faults of a
    busy cluster, each in a run of its own (all with --retries 0, checked one by one in sacct):

    1. the retraining is ``scancel``-ed mid-way, once it has written a checkpoint;
    2. the next run resumes the training from that checkpoint, and one inference shard is
       ``scancel``-ed while it runs; everything that does not need that shard finishes;
    3. the last run submits only that shard and what depends on it.

    The training here is longer than the tiny one (40 iterations, a checkpoint every 10), so
    there is a "mid-way" to kill it at; that adds no job to what the label edit re-runs."""
    wd, env = cluster_run[0], slurm_env
    label = sorted((wd / "resources/demo/labels/demo_a").glob("*.json"))[0]
    doc = json.loads(label.read_text())
    doc["shapes"][0]["points"][0][0] += 1.0
    label.write_text(json.dumps(doc))
    planned = planned_jobs(wd, *CFG)
    longer = {"model_settings": {"maskrcnn": {"train": {"iterations": 40, "checkpoint_every": 10}}}}
    (wd / "longer.yaml").write_text(yaml.safe_dump(longer))
    cfg = (*CFG, "longer.yaml")  # one --configfile: a second one would replace the first
    out = {"wd": wd, "planned": planned, "planned_longer": planned_jobs(wd, *cfg)}
    model = wd / "results/models/maskrcnn/model.pt"
    ckpt = wd / "results/checkpoints/maskrcnn/resume.pt"
    seen: set[str] = set()

    since = now()
    out["killed"], out["run1"] = run_cancelling(wd, env, cfg, "train", ready=ckpt.exists)
    out["jobs1"] = new_jobs(env, wd, since, seen)
    out["model_after_kill"] = model.exists()
    out["killed_at"] = torch.load(ckpt, map_location="cpu", weights_only=True)["iteration"]

    since = now()
    out["cancelled"], out["run2"] = run_cancelling(wd, env, cfg, "infer_shard")
    out["jobs2"] = new_jobs(env, wd, since, seen)
    out["shards2"] = sorted(
        f"{s.parent.name}/{s.stem}"
        for s in wd.glob("results/detections/maskrcnn/*/shard-*.parquet")
    )
    out["planned3"] = planned_jobs(wd, *cfg)

    since = now()
    submit(wd, env, cfg=cfg)
    out["jobs3"] = new_jobs(env, wd, since, seen)
    out["planned_after"] = planned_jobs(wd, *cfg)
    return out


def test_editing_one_label_submits_only_the_jobs_it_affects(label_edit_runs):
    r = label_edit_runs
    assert r["planned"] == LABEL_EDIT_PLAN
    assert r["planned_longer"] == LABEL_EDIT_PLAN  # the longer training re-runs nothing more
    # over the three runs, sacct shows exactly the affected jobs, plus the killed training and
    # the cancelled shard submitted once more: no demo, probe or frame job
    total = Counter()
    for k in ("jobs1", "jobs2", "jobs3"):
        total.update(submitted(r[k]))
    expected = Counter(expected_submissions(LABEL_EDIT_PLAN))
    expected.update({"train": 1, "infer_shard": 1})
    assert dict(total) == dict(expected)
    assert r["planned_after"] == {}  # nothing is left to do


def test_training_killed_midway_resumes_from_its_checkpoint(label_edit_runs):
    r = label_edit_runs
    wd, jobs1 = r["wd"], r["jobs1"]
    assert r["run1"].returncode != 0
    # the killed run submitted the label import and QA, and the training: nothing after it
    assert submitted(jobs1) == {"import_annotations": 1, "qa_labels": 1, "train": 1}
    states = jobs1.set_index("jobid")["state"]
    assert states[r["killed"]].startswith("CANCELLED")
    assert (states.drop(r["killed"]) == "COMPLETED").all()
    assert not r["model_after_kill"]
    assert 10 <= r["killed_at"] < 40
    # the next run's training went on from that checkpoint, to the end
    train2 = r["jobs2"][r["jobs2"]["rule"] == "train"]
    assert list(train2["state"]) == ["COMPLETED"]
    extra = torch.load(
        wd / "results/models/maskrcnn/model.pt", map_location="cpu", weights_only=True
    )["extra"]
    assert extra["resumed_at"] == r["killed_at"] and extra["iterations"] == 40
    log_csv = pd.read_csv(wd / "results/models/maskrcnn/train_log.csv")
    assert list(log_csv["iteration"]) == list(range(1, 41))
    assert "resuming from" in (wd / "logs/train/maskrcnn.log").read_text()
    assert not (wd / "results/checkpoints/maskrcnn/resume.pt").exists()


def test_cancelled_shard_fails_alone_and_the_rerun_submits_only_it(label_edit_runs):
    r = label_edit_runs
    wd, jobs2 = r["wd"], r["jobs2"]
    assert r["run2"].returncode != 0
    states = jobs2.set_index("jobid")["state"]
    assert states[r["cancelled"]].startswith("CANCELLED")
    # only that shard failed: every other job of the run COMPLETED
    assert (states.drop(r["cancelled"]) == "COMPLETED").all(), jobs2
    shard_job = jobs2.set_index("jobid").loc[r["cancelled"]]
    assert shard_job["rule"] == "infer_shard"
    all_shards = {f"{v}/shard-{k}" for v in DEMO_VIDEOS for k in (0, 1)}
    assert len(r["shards2"]) == 5  # of 6: the cancelled one is missing
    ((video, _),) = [m.split("/") for m in all_shards - set(r["shards2"])]
    # what needs that shard was not submitted; what does not, was
    downstream = {
        "track": 1,
        "evaluate_tracks": 1,
        "summarize": 1,
        "aggregate": 1,
        "report": 1,
        "report_video": 1,
    }
    if video in OVERLAY_VIDEOS:
        downstream.update(overlay=1, review_tracks=1)
    expected2 = Counter(expected_submissions(LABEL_EDIT_PLAN))
    expected2.subtract(downstream)
    expected2.subtract({"import_annotations": 1, "qa_labels": 1})  # done in the killed run
    assert submitted(jobs2) == {k: n for k, n in expected2.items() if n}
    # the re-run plans exactly that shard and what depends on it, and sacct shows just those
    assert r["planned3"] == {"infer_shard": 1, **downstream, "all": 1}
    assert submitted(r["jobs3"]) == expected_submissions(r["planned3"])
    assert (r["jobs3"]["state"] == "COMPLETED").all(), r["jobs3"]
    assert len(list(wd.glob("results/detections/maskrcnn/*/shard-*.parquet"))) == 6


@pytest.fixture(scope="module")
def sheet_cluster_run(slurm_env, tmp_path_factory):
    """A small sheet-driven run on the cluster: two cohorts with animals of their own."""
    from .test_sheet_dag import HEADER, MICE, RATS, render, sheet_row

    wd = copy_workflow(tmp_path_factory.mktemp("slurm-sheet") / "wf")
    data = wd / "data"
    videos = {"cA_1": (41, 6, "cageA", MICE), "cA_2": (42, 0, "cageA", MICE)}
    videos["cB_1"] = (43, 6, "cageB", RATS)
    for name, (seed, n_lab, _, ids) in videos.items():
        render(data, name, seed, n_lab, ids)
    rows = [sheet_row(v, c, "wt" if v.endswith("1") else "ko", n > 0) for v, (_, n, c, _) in
            videos.items()]  # fmt: skip
    (data / "videos.tsv").write_text(HEADER + "".join(rows))
    (wd / "sheet.yaml").write_text(
        "demo: {enabled: false}\nvideo_sheet: data/videos.tsv\nreport: {overlay_videos: []}\n"
        f"cohorts:\n  cageA: {{identities: [{', '.join(MICE)}]}}\n"
        f"  cageB: {{identities: [{', '.join(RATS)}]}}\n"
    )
    cfg = (*CFG, "sheet.yaml")
    planned = planned_jobs(wd, *cfg)
    since = now()
    submit(wd, slurm_env, cfg=cfg)
    return wd, planned, sacct(slurm_env, wd, since), cfg


def test_a_sheet_with_two_cohorts_runs_on_the_cluster(sheet_cluster_run):
    wd, planned, jobs, cfg = sheet_cluster_run
    assert planned["train"] == 2 and planned["import_annotations"] == 2  # a model per cohort
    assert submitted(jobs) == expected_submissions(planned)
    assert (jobs["state"] == "COMPLETED").all(), jobs[jobs["state"] != "COMPLETED"]
    for cohort in ("cageA", "cageB"):
        assert (wd / f"results/models/{cohort}/maskrcnn/model.pt").exists()
    summary = pd.read_csv(wd / "results/metrics/summary.csv")
    assert dict(zip(summary["video"], summary["model_cohort"])) == {
        "cA_1": "cageA",
        "cA_2": "cageA",
        "cB_1": "cageB",
    }
    groups = pd.read_csv(wd / "results/aggregate/groups.csv")
    assert set(groups[groups["by"] == "cohort"]["level"]) == {"cageA", "cageB"}
    assert (wd / "results/report/videos/cB_1.html").stat().st_size > 0
    assert planned_jobs(wd, *cfg) == {}
