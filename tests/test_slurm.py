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


def submit_and_check(wd: Path, env: dict, planned: dict[str, int]) -> pd.DataFrame:
    """Run through SLURM; exactly the planned jobs were submitted, and every one COMPLETED."""
    since = now()
    submit(wd, env)
    jobs = sacct(env, wd, since)
    assert submitted(jobs) == expected_submissions(planned)
    assert (jobs["state"] == "COMPLETED").all(), jobs[jobs["state"] != "COMPLETED"]
    return jobs


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


def test_editing_one_label_submits_only_the_jobs_it_affects(cluster_run, slurm_env):
    wd = cluster_run[0]
    label = sorted((wd / "resources/demo/labels/demo_a").glob("*.json"))[0]
    doc = json.loads(label.read_text())
    doc["shapes"][0]["points"][0][0] += 1.0
    label.write_text(json.dumps(doc))
    planned = planned_jobs(wd, *CFG)
    assert planned == {
        "import_annotations": 1,
        "qa_labels": 1,
        "train": 1,
        "infer_shard": 6,
        "track": 3,
        "evaluate_coco": 1,
        "evaluate_tracks": 3,
        "summarize": 1,
        "overlay": 1,
        "review_tracks": 1,
        "report": 1,
        "all": 1,
    }
    submit_and_check(wd, slurm_env, planned)  # no demo, probe or frame job


def test_cancelled_shard_fails_alone_and_the_rerun_submits_only_it(cluster_run, slurm_env):
    wd = cluster_run[0]
    shards = [wd / f"results/detections/maskrcnn/demo_b/shard-{k}.parquet" for k in (0, 1)]
    # both shards of one video run again (as after a new model), and then what depends on them
    force = ("--forcerun", *(str(s.relative_to(wd)) for s in shards))
    assert planned_jobs(wd, *CFG, *force) == {
        "infer_shard": 2,
        "track": 1,
        "evaluate_tracks": 1,
        "summarize": 1,
        "report": 1,
        "all": 1,
    }
    since = now()
    cmd = cluster_cmd("--retries", "0", *force)
    with subprocess.Popen(
        cmd, cwd=wd, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as run:
        cancelled = None
        deadline = time.monotonic() + 300
        while cancelled is None and time.monotonic() < deadline and run.poll() is None:
            cancelled = running_job(slurm_env, wd, "infer_shard")
            time.sleep(0.2)
        if cancelled:
            subprocess.run(["scancel", cancelled], env=slurm_env, check=True)
        log = run.communicate(timeout=600)[0]
    assert cancelled, f"no shard job was seen in the queue:\n{log[-4000:]}"
    assert run.returncode != 0
    jobs = sacct(slurm_env, wd, since)
    states = jobs.set_index("jobid")["state"]
    assert states[cancelled].startswith("CANCELLED")
    # only that shard failed: the other one finished, and nothing that needs both was submitted
    assert submitted(jobs) == {"infer_shard": 2}
    assert sorted(jobs["state"].str.split().str[0]) == ["CANCELLED", "COMPLETED"]
    assert sum(s.exists() for s in shards) == 1

    planned = planned_jobs(wd, *CFG)
    assert planned == {
        "infer_shard": 1,
        "track": 1,
        "evaluate_tracks": 1,
        "summarize": 1,
        "report": 1,
        "all": 1,
    }
    submit_and_check(wd, slurm_env, planned)
    assert all(s.exists() for s in shards)


def test_training_killed_midway_resumes_from_its_checkpoint(cluster_run, slurm_env):
    wd = cluster_run[0]
    # a longer training than the tiny one, so there is a "mid-way" to kill it at
    longer = {"model_settings": {"maskrcnn": {"train": {"iterations": 40, "checkpoint_every": 10}}}}
    (wd / "longer.yaml").write_text(yaml.safe_dump(longer))
    model = wd / "results/models/maskrcnn/model.pt"
    ckpt = wd / "results/checkpoints/maskrcnn/resume.pt"
    cfg = (*CFG, "longer.yaml")  # one --configfile: a second one would replace the first
    target = str(model.relative_to(wd))
    cmd = cluster_cmd("--retries", "0", target, cfg=cfg)
    since = now()
    with subprocess.Popen(
        cmd, cwd=wd, env=slurm_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as run:
        deadline = time.monotonic() + 300
        while not ckpt.exists() and time.monotonic() < deadline and run.poll() is None:
            time.sleep(0.2)
        assert ckpt.exists(), "no checkpoint was written"
        killed = running_job(slurm_env, wd, "train")
        assert killed, "the training job is not running"
        subprocess.run(["scancel", killed], env=slurm_env, check=True)
        log = run.communicate(timeout=300)[0]
    assert run.returncode != 0, log[-4000:]
    assert not model.exists() and ckpt.exists()
    killed_at = torch.load(ckpt, map_location="cpu", weights_only=True)["iteration"]
    assert 10 <= killed_at < 40

    submit(wd, slurm_env, target, cfg=cfg)
    jobs = sacct(slurm_env, wd, since)
    assert list(jobs["rule"]) == ["train", "train"]
    assert jobs["state"].iloc[0].startswith("CANCELLED") and jobs["state"].iloc[1] == "COMPLETED"
    extra = torch.load(model, map_location="cpu", weights_only=True)["extra"]
    assert extra["resumed_at"] == killed_at and extra["iterations"] == 40
    assert list(pd.read_csv(wd / "results/models/maskrcnn/train_log.csv")["iteration"]) == list(
        range(1, 41)
    )
    assert "resuming from" in (wd / "logs/train/maskrcnn.log").read_text()
    assert not ckpt.exists()
