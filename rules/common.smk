import glob
import inspect
import os

from snakemake.common import overwrite_function_params
from snakemake.exceptions import WorkflowError


def per_job(func):
    """Mark a function that Snakemake calls for every job (input, params, threads, resources).

    Snakemake reads such a function's signature each time it calls it, to know which of
    wildcards/input/attempt/threads to pass; over tens of thousands of jobs that inspection is a
    noticeable part of planning (bench/dag_scale.py). Reading it once here, through Snakemake's own
    hook for precomputed parameters, gives the same call for less."""
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


DEMO = config["demo"]["enabled"]
if DEMO:
    VIDEOS = list(config["demo"]["videos"])
    LABELLED = [v for v, s in config["demo"]["videos"].items() if s["labelled"]]
    WITH_TRUTH = VIDEOS
else:
    if not config["videos"]:
        raise WorkflowError(
            "config: demo.enabled is false and `videos` is empty: nothing to do"
        )
    VIDEOS = list(config["videos"])
    LABELLED = [v for v, s in config["videos"].items() if s.get("labels")]
    WITH_TRUTH = [v for v, s in config["videos"].items() if s.get("truth")]
if not LABELLED:
    raise WorkflowError(
        "config: no video has labels: at least one labelled video is needed"
    )

MODELS = config["models"]
for _m in MODELS:
    if _m not in config["model_settings"]:
        raise WorkflowError(
            f"config: models lists {_m!r} but model_settings has no entry for it"
        )
for _v in config["report"]["overlay_videos"]:
    if _v not in VIDEOS:
        raise WorkflowError(
            f"config: report.overlay_videos names {_v!r}, which is no video"
        )

SHARDS = list(range(config["inference"]["shards"]))


wildcard_constraints:
    video="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="[A-Za-z0-9][A-Za-z0-9_-]*",
    shard=r"\d+",


@per_job
def video_path(wildcards):
    if DEMO:
        return f"resources/demo/videos/{wildcards.video}.mp4"
    return config["videos"][wildcards.video]["path"]


def truth_of(video):
    if DEMO:
        return f"resources/demo/truth/{video}.parquet"
    return config["videos"][video]["truth"]


@per_job
def truth_path(wildcards):
    return truth_of(wildcards.video)


@per_job
def label_files(wildcards):
    """Every label file of every labelled video (each file is an input of its own)."""
    files = []
    for v in LABELLED:
        if DEMO:
            folder = checkpoints.demo_video.get(video=v).output.labels
        else:
            folder = config["videos"][v]["labels"]
        found = sorted(glob.glob(os.path.join(folder, "*.json")))
        files += found
    return files


def model_settings(name):
    return config["model_settings"][name]


@per_job
def model_threads(wildcards):
    return model_settings(wildcards.model).get("threads", 2)


@per_job
def model_params(wildcards):
    return model_settings(wildcards.model)


@per_job
def model_hub_params(wildcards):
    return model_hub(wildcards.model)


@per_job
def is_labelled(wildcards):
    return wildcards.video in LABELLED


def model_hub(name):
    """Where torch.hub finds the YOLACT families: this workflow's own directory unless the
    config names another repo (e.g. a GitHub ``owner/name:ref`` on a cluster)."""
    hub = dict(config["model_settings"][name].get("hub") or {})
    hub["source"] = hub.get("source") or "local"
    hub["repo"] = hub.get("repo") or workflow.basedir
    return hub


GPU_RULES = ("train", "infer_shard", "evaluate_coco")


def _grows_with_attempt(value):
    return per_job(lambda wildcards, attempt: value * attempt)


def job_resources(rule):
    """What one rule's jobs ask of a cluster (config `resources`): `gpu_jobs` for the model
    steps, `cpu_jobs` for the rest, then the rule's own override. Unset (null) values are left
    to the scheduler; mem_mb and runtime grow with each retry."""
    res = config["resources"]
    merged = dict(res["gpu_jobs"] if rule in GPU_RULES else res["cpu_jobs"])
    merged.update((res.get("rules") or {}).get(rule, {}))
    if not merged.get("gpu"):
        for key in ("gpu", "gpu_model", "cpus_per_gpu"):
            merged.pop(key, None)
    out = {}
    for key, value in merged.items():
        if value is None:
            continue
        out[key] = _grows_with_attempt(value) if key in ("mem_mb", "runtime") else value
    return out
