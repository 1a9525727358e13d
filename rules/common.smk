import functools
import gc
import glob
import inspect
import os
import re
import sys

from snakemake.common import overwrite_function_params
from snakemake.exceptions import WorkflowError

sys.path.insert(0, workflow.basedir)  # the ethoflow package beside this workflow
from ethoflow import sheet as video_sheet  # noqa: E402
from ethoflow.behaviour.dataset import auxiliary_groups  # noqa: E402
from ethoflow.io import EthoflowError  # noqa: E402


def per_job(func):
    """Mark a function that Snakemake calls for every job (input, params, threads, resources).

    Snakemake reads such a function's signature each time it calls it, to know which of
    wildcards/input/attempt/threads to pass; over tens of thousands of jobs that inspection is a
    noticeable part of planning (bench/dag_scale.py). Reading it once here, through Snakemake's own
    hook for precomputed parameters, gives the same call for less."""
    overwrite_function_params(func, inspect.signature(func).parameters)
    return func


def _precompute_resource_params():
    """Snakemake evaluates every resource of every job through ``Resource.evaluate`` and reads
    that method's signature each time (8 resources a job here: 8 signature reads). The method
    takes ``*args, **kwargs``; recording that once, through the same hook as ``per_job``, gives
    Snakemake the same answer for less (bench/dag_scale.py). Without the hook (another
    Snakemake), nothing changes."""
    try:
        from snakemake.resources import Resource
    except ImportError:
        return
    evaluate = getattr(Resource, "evaluate", None)
    if evaluate is not None:
        per_job(evaluate)


_precompute_resource_params()


# Python's cyclic garbage collector thresholds while Snakemake plans (Python's defaults: 700, 10,
# 10); a real run goes back to the ones it started with once the DAG is planned (onstart).
GC_THRESHOLD = (100_000, 50, 50)
GC_AT_START = gc.get_threshold()


def _collect_garbage_less_often():
    """Snakemake keeps every job it plans alive until the end, and Python's cyclic garbage
    collector, at its default thresholds, walks those objects again and again while the DAG
    grows: 6.8-7.4 s of a 56-67 s plan of 1,000 videos x 10 shards (both families, 25,010 jobs;
    bench/dag_scale.py --gc, 3 runs). Collecting after 100,000 new objects instead of 700 leaves
    1.2-1.4 s of it, with the same peak memory (656 MiB): planning makes almost no cyclic
    garbage. Cycles are still collected, less often. Each threshold is raised to at least
    100,000 / 50 / 50; collection switched off (0) stays off."""
    current = gc.get_threshold()
    if current[0] == 0:
        return
    gc.set_threshold(*(max(a, b) for a, b in zip(current, GC_THRESHOLD)))


_collect_garbage_less_often()


def _collect_garbage_as_usual():
    """Once the DAG is planned, before the first job of a real run: the objects planning made are
    moved out of the collector's reach (gc.freeze: the jobs live until the end anyway) and the
    thresholds go back to what they were, so a run that lasts hours collects its garbage as
    Python would."""
    gc.freeze()
    gc.set_threshold(*GC_AT_START)


onstart:
    _collect_garbage_as_usual()


def _cache_source_uri_parsing():
    """Snakemake resolves the `script:` file of every job before it runs anything
    (its ScriptProcessor), and each time it parses the script's path as a URI through
    smart_open, which builds a new namedtuple class per call: over tens of thousands of
    inference shards that is a noticeable part of planning (bench/dag_scale.py). The parse is a
    pure function of the path string, so it is memoised here. Without the name (another
    Snakemake), nothing changes."""
    try:
        from snakemake import sourcecache
    except ImportError:
        return
    parse = getattr(sourcecache, "parse_uri", None)
    if not callable(parse) or hasattr(parse, "memoised"):
        return
    cached = functools.lru_cache(maxsize=1024)(parse)

    def parse_uri(path_or_uri):
        try:
            return cached(path_or_uri)
        except TypeError:  # not hashable: parse it as Snakemake would
            return parse(path_or_uri)

    parse_uri.memoised = True
    sourcecache.parse_uri = parse_uri


_cache_source_uri_parsing()


def _check_each_script_once():
    """Before it runs anything, Snakemake checks that each job's `script:` file can be read
    (its ScriptProcessor): it formats the path with the job's wildcards and params, opens the
    file through its source cache and reads it, once per job. Where the path has no
    placeholders the answer is the same for every job of a rule, so it is checked once per
    script and folder here (bench/dag_scale.py: 20,000 inference shards share one script).
    A missing script still fails the plan, on its first job; running a job still reads the
    script then. Without the class (another Snakemake), nothing changes."""
    try:
        from snakemake.dag import ScriptProcessor
    except ImportError:
        return
    process = getattr(ScriptProcessor, "process_job", None)
    if not callable(process) or hasattr(process, "memoised"):
        return
    checked = set()

    def process_job(self, job):
        entry = getattr(job.rule, getattr(self, "script_type", ""), None)
        if not isinstance(entry, (str, os.PathLike)) or "{" in str(entry):
            return process(self, job)
        key = (type(self).__name__, str(entry), str(job.rule.basedir))
        if key not in checked:
            process(self, job)
            checked.add(key)

    process_job.memoised = True
    ScriptProcessor.process_job = process_job


_check_each_script_once()

DEMO = config["demo"]["enabled"]
# Cohorts (cages, experiments): each has its own animals and trains its own models.
COHORTS = config["cohorts"]
if COHORTS and DEMO:
    raise WorkflowError(
        "config: `cohorts` are for your own videos (set demo.enabled: false)"
    )
# an override config drops a default demo video by setting it to null
config["demo"]["videos"] = {
    v: s for v, s in config["demo"]["videos"].items() if s is not None
}
if DEMO and not config["demo"]["videos"]:
    raise WorkflowError("config: demo.videos: every demo video is set to null")
if DEMO:
    VIDEOS = list(config["demo"]["videos"])
    VIDEO_CFG = {v: {} for v in VIDEOS}
    LABELLED = [v for v, s in config["demo"]["videos"].items() if s["labelled"]]
    WITH_TRUTH = VIDEOS
    POSE_ONLY = []
else:
    # the config's `videos:` mapping, `video_glob` and the video sheet, as one mapping
    try:
        _SHEET = video_sheet.merge_sheets(
            (
                [
                    video_sheet.read_sheet(
                        config["video_sheet"],
                        os.path.join(
                            workflow.basedir, "config", "schemas", "videos.schema.yaml"
                        ),
                        cohorts=list(COHORTS) if COHORTS else None,
                    )
                ]
                if config.get("video_sheet")
                else []
            )
            + (
                [video_sheet.glob_videos(config["video_glob"])]
                if config.get("video_glob")
                else []
            ),
            config["videos"],
        )
    except EthoflowError as e:
        raise WorkflowError(str(e)) from None
    if not _SHEET.videos:
        raise WorkflowError(
            "config: demo.enabled is false and there are no videos (`videos`, "
            "`video_sheet` or `video_glob`): nothing to do"
        )
    VIDEO_CFG = _SHEET.videos
    # Entries with a video file run the whole pipeline; pose-only entries (no `path`, a `pose`
    # file as the animals' track source) run the behaviour stage only.
    VIDEOS = [v for v, s in VIDEO_CFG.items() if s.get("path")]
    POSE_ONLY = [v for v, s in VIDEO_CFG.items() if not s.get("path")]
    for _v in POSE_ONLY:
        if not VIDEO_CFG[_v].get("pose"):
            raise WorkflowError(
                f"config: videos.{_v} has neither a `path` nor a `pose` file"
            )
    LABELLED = [
        v for v in VIDEOS if VIDEO_CFG[v].get("labels") or VIDEO_CFG[v].get("keypoints")
    ]
    WITH_TRUTH = [v for v in VIDEOS if VIDEO_CFG[v].get("truth")]
if config["models"] and not LABELLED:
    raise WorkflowError(
        "config: no video has labels or keypoints: at least one labelled video is needed "
        "(or set `models: []` for a pose-only project)"
    )
# Videos whose masks are bootstrapped from keypoint labels (SLEAP, DeepLabCut).
KEYPOINT_VIDEOS = [v for v in VIDEOS if VIDEO_CFG[v].get("keypoints")]
for _v in WITH_TRUTH:
    if VIDEO_CFG[_v].get("truth") == "keypoints" and _v not in KEYPOINT_VIDEOS:
        raise WorkflowError(
            f"config: videos.{_v}.truth is 'keypoints' but the video has no `keypoints`"
        )
# Videos run on a working copy (cut to `clip`, shrunk by `downscale`).
PREPARED = {
    v
    for v in VIDEOS
    if (VIDEO_CFG[v].get("downscale") or 1) != 1 or VIDEO_CFG[v].get("clip")
}
# Other trackers' output, scored beside ours: {name: {video: path}}.
COMPARE = {}
for _v in VIDEOS:
    for _name, _path in (VIDEO_CFG[_v].get("compare") or {}).items():
        COMPARE.setdefault(_name, {})[_v] = _path
CLASSICAL = ["classical"] if config["baselines"]["classical"] else []

MODELS = config["models"]
for _m in MODELS:
    if _m not in config["model_settings"]:
        raise WorkflowError(
            f"config: models lists {_m!r} but model_settings has no entry for it"
        )
# video -> the cohort whose models infer it (its own, or its `model_from`); none without
# cohorts. Training, annotation import and label QA run once per such cohort.
TRAIN_COHORT = {}
if COHORTS:
    try:
        TRAIN_COHORT = video_sheet.cohort_plan(
            COHORTS,
            {
                r["video"]: r["cohort"]
                for r in video_sheet.conditions_records(_SHEET.conditions)
                if r["video"] in VIDEOS
            },
            LABELLED,
            training=bool(MODELS),
        )
    except EthoflowError as e:
        raise WorkflowError(str(e)) from None
TRAIN_COHORTS = sorted(set(TRAIN_COHORT.values())) or [None]


def _cohort_path(with_cohort, without):
    """A path of the per-cohort layout when cohorts are configured, else the plain one."""
    return with_cohort if TRAIN_COHORT else without


DATASET = _cohort_path("results/dataset/{cohort}", "results/dataset")
MODEL_FILE = _cohort_path(
    "results/models/{cohort}/{model}/model.pt", "results/models/{model}/model.pt"
)
TRAIN_LOG = _cohort_path(
    "results/models/{cohort}/{model}/train_log.csv",
    "results/models/{model}/train_log.csv",
)
COCO_JSON = _cohort_path(
    "results/metrics/{cohort}/{model}/coco.json", "results/metrics/{model}/coco.json"
)
QA_LABELS = _cohort_path(
    "results/qa/labels/{cohort}.parquet", "results/qa/labels.parquet"
)
QA_REVIEW = _cohort_path(
    "results/qa/review/labels/{cohort}", "results/qa/review/labels"
)
CHECKPOINT = _cohort_path(
    "results/checkpoints/{cohort}/{model}/resume.pt",
    "results/checkpoints/{model}/resume.pt",
)
LOGS = {
    "import": _cohort_path(
        "logs/annotations/import-{cohort}.log", "logs/annotations/import.log"
    ),
    "qa": _cohort_path("logs/qa/labels-{cohort}.log", "logs/qa/labels.log"),
    "train": _cohort_path("logs/train/{cohort}/{model}.log", "logs/train/{model}.log"),
    "coco": _cohort_path(
        "logs/metrics/{cohort}/{model}/coco.log", "logs/metrics/{model}/coco.log"
    ),
}
# Every trained model: (cohort or None, model), its name in the report, its files.
TRAIN_KEYS = [(c, m) for c in TRAIN_COHORTS for m in MODELS]
MODEL_KEYS = [f"{c}/{m}" if c else m for c, m in TRAIN_KEYS]
MODEL_FILES = [MODEL_FILE.format(cohort=c, model=m) for c, m in TRAIN_KEYS]
TRAIN_LOGS = [TRAIN_LOG.format(cohort=c, model=m) for c, m in TRAIN_KEYS]
# the labels of the training logs in Snakemake's own report
TRAIN_LABELS = (
    {"cohort": "{cohort}", "model": "{model}"} if TRAIN_COHORT else {"model": "{model}"}
)
COCO_FILES = [COCO_JSON.format(cohort=c, model=m) for c, m in TRAIN_KEYS]
QA_LABEL_TABLES = [QA_LABELS.format(cohort=c) for c in TRAIN_COHORTS]
QA_REVIEWS = [QA_REVIEW.format(cohort=c) for c in TRAIN_COHORTS]
QA_LABEL_NAMES = [f"labels/{c}" if c else "labels" for c in TRAIN_COHORTS]


def identities_of(cohort):
    return COHORTS[cohort]["identities"] if cohort else config["identities"]


# Every identity of the run, cohort by cohort (the report's colours and legends).
ALL_IDENTITIES = list(dict.fromkeys(i for c in TRAIN_COHORTS for i in identities_of(c)))


@per_job
def video_identities(wildcards):
    """The identities (classes) of the model that tracks this video."""
    return identities_of(TRAIN_COHORT.get(wildcards.video))


@per_job
def cohort_identities(wildcards):
    """The identities of the cohort a training-side job belongs to."""
    return identities_of(getattr(wildcards, "cohort", None))


@per_job
def video_model(wildcards):
    """The model file a video is inferred with: its cohort's (or `model_from`'s)."""
    cohort = TRAIN_COHORT.get(wildcards.video)
    return MODEL_FILE.format(cohort=cohort, model=wildcards.model)


@per_job
def video_dataset(wildcards):
    """The training and validation sets of the model that tracks this video."""
    d = DATASET.format(cohort=TRAIN_COHORT.get(wildcards.video))
    return {"train": f"{d}/train.json", "val": f"{d}/val.json"}


# Videos that get an overlay video. null: the demo's videos without labels of either kind (the
# held-out demo_c) when the demo runs, none for your own videos (name them), so that switching
# the demo off needs no report override.
OVERLAY_VIDEOS = config["report"]["overlay_videos"]
if OVERLAY_VIDEOS is None:
    OVERLAY_VIDEOS = (
        [
            v
            for v, s in config["demo"]["videos"].items()
            if not (s["labelled"] or s.get("behaviour_labelled"))
        ]
        if DEMO
        else list(_SHEET.overlay)  # the sheet's `overlay` column
    )
for _v in OVERLAY_VIDEOS:
    if _v not in VIDEOS:
        raise WorkflowError(
            f"config: report.overlay_videos names {_v!r}, which is no video"
        )

for _name in COMPARE:
    if _name in MODELS or _name == "classical":
        raise WorkflowError(
            f"config: compare entry {_name!r} has the name of a model of this workflow"
        )
# Everything that makes a track table: the models, the classical baseline, imported trackers.
TRACKERS = MODELS + CLASSICAL + list(COMPARE)


def trackers_of(video):
    """The trackers with a track table for ``video``: the models everywhere; the baselines
    where there is truth to score them against."""
    base = CLASSICAL if video in WITH_TRUTH else []
    return MODELS + base + [n for n in COMPARE if video in COMPARE[n]]


# Every (tracker, video) with a track table, in one order: rules list their track inputs in it
# and pass it as params.pairs, and their scripts zip the two into {(tracker, video): table}.
TRACK_PAIRS = [(m, v) for v in VIDEOS for m in trackers_of(v)]


def _one_of(names):
    """A wildcard constraint matching exactly these names (none: matches nothing)."""
    return "|".join(re.escape(n) for n in names) or "(?!)"


@per_job
def video_shard_count(wildcards):
    return shards_of(wildcards.video)


@per_job
def video_downscale(wildcards):
    return downscale_of(wildcards.video)


@per_job
def video_clip(wildcards):
    return clip_of(wildcards.video)


@per_job
def video_match(wildcards):
    return match_of(wildcards.video)


@per_job
def video_gate_px(wildcards):
    """The centroid gate in pixels of the video the pipeline runs on."""
    return config["metrics"]["gate_px"] / downscale_of(wildcards.video)


def shards_of(video):
    """Frame-range shards of ``video``: its own `shards`, else `inference.shards` (a short
    video needs one job, a long one many)."""
    spec = (config["demo"]["videos"] if DEMO else VIDEO_CFG).get(video) or {}
    return int(spec.get("shards") or config["inference"]["shards"])


@per_job
def shard_files(wildcards):
    """Every detection shard of one model x video."""
    return [
        f"results/detections/{wildcards.model}/{wildcards.video}/shard-{k}.parquet"
        for k in range(shards_of(wildcards.video))
    ]


wildcard_constraints:
    video="[A-Za-z0-9][A-Za-z0-9_-]*",
    model="[A-Za-z0-9][A-Za-z0-9_-]*",
    shard=r"\d+",
    cohort=_one_of([c for c in TRAIN_COHORTS if c]),


@per_job
def demo_spec(wildcards):
    """What the demo generator needs of one demo video (no cohort, group or other videos)."""
    spec = config["demo"]["videos"][wildcards.video]
    demo = config["demo"]
    return {
        "seed": spec["seed"],
        "n_frames": spec.get("n_frames", demo["n_frames"]),
        "size": demo["size"],
        "fps": demo["fps"],
        "n_labelled": demo["labelled_frames"] if spec["labelled"] else 0,
    }


@per_job
def video_path(wildcards):
    """The video the pipeline runs on: the demo's, a prepared working copy, or the raw file."""
    if DEMO:
        return f"resources/demo/videos/{wildcards.video}.mp4"
    if wildcards.video in PREPARED:
        return f"results/videos/{wildcards.video}.mp4"
    return VIDEO_CFG[wildcards.video]["path"]


@per_job
def raw_video(wildcards):
    return VIDEO_CFG[wildcards.video]["path"]


def downscale_of(video):
    return float(VIDEO_CFG[video].get("downscale") or 1)


def clip_of(video):
    return VIDEO_CFG[video].get("clip")


def truth_of(video):
    if DEMO:
        return f"resources/demo/truth/{video}.parquet"
    truth = VIDEO_CFG[video]["truth"]
    if truth == "keypoints":
        return f"results/truth/{video}.parquet"
    return truth


def match_of(video):
    """How tracks meet truth: mask IoU, or centroid distance for keypoint truth."""
    return "centroid" if VIDEO_CFG[video].get("truth") == "keypoints" else "mask"


@per_job
def truth_path(wildcards):
    return truth_of(wildcards.video)


@per_job
def label_files(wildcards):
    """Every label file of every labelled video (each file is an input of its own), then the
    folders of masks bootstrapped from keypoints (a labelled file of the same frame wins).
    """
    files = []
    cohort = getattr(wildcards, "cohort", None)
    mine = [v for v in LABELLED if TRAIN_COHORT.get(v) == cohort]
    for v in mine:
        if DEMO:
            folder = checkpoints.demo_video.get(video=v).output.labels
        else:
            folder = VIDEO_CFG[v].get("labels")
        if folder:
            files += sorted(glob.glob(os.path.join(folder, "*.json")))
    return files + [f"results/bootstrap/{v}" for v in KEYPOINT_VIDEOS if v in mine]


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


WORKFLOW_DIR = workflow.basedir  # Snakemake derives it anew on each read


@functools.cache
def model_hub(name):
    """Where torch.hub finds the YOLACT families: this workflow's own directory unless the
    config names another repo (e.g. a GitHub ``owner/name:ref`` on a cluster). One answer per
    model, read by every job of that model: treat it as read-only."""
    hub = dict(config["model_settings"][name].get("hub") or {})
    hub["source"] = hub.get("source") or "local"
    hub["repo"] = hub.get("repo") or WORKFLOW_DIR
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


# --- behaviour ---------------------------------------------------------------------------------
BEH = config["behaviour"]
# The stage runs where there is something to learn from: behaviour labels on a video, or a
# trained classifier (behaviour.tcn.weights).
BEH_ON = BEH["enabled"] and bool(
    (
        DEMO
        and any(s.get("behaviour_labelled") for s in config["demo"]["videos"].values())
    )
    or any(VIDEO_CFG[v].get("behaviour_labels") for v in VIDEOS + POSE_ONLY)
    or BEH["tcn"].get("weights")
)
ENTRIES = VIDEOS + POSE_ONLY
if DEMO:
    BEH_LABELLED = [
        v for v, s in config["demo"]["videos"].items() if s.get("behaviour_labelled")
    ]
    BEH_TRUTH = VIDEOS  # the generator's behaviour truth
else:
    BEH_LABELLED = [v for v in ENTRIES if VIDEO_CFG[v].get("behaviour_labels")]
    BEH_TRUTH = BEH_LABELLED  # scored in-sample, and by block cross-validation if asked
BEH_TRAIN = BEH["train_tracker"] or (MODELS[0] if MODELS else "pose")
CLASSIFIERS = list(BEH["classifiers"]) if BEH_ON else []
if "tcn" in CLASSIFIERS:
    try:  # checked here, not first in the training job after features and tracking
        auxiliary_groups(
            BEH["tcn"].get("auxiliary"), BEH["behaviours"], BEH["exclusive"]
        )
    except EthoflowError as e:
        raise WorkflowError(f"config: {e}") from None


LABEL_KEYS = (
    "behaviours",
    "exclusive",
    "overlap",
    "mapping",
    "ignore",
    "span_types",
    "raters",
)
CLASSIFY_KEYS = ("behaviours", "exclusive", "tcn", "trees", "cv_blocks", "bouts")
# the part of the `behaviour` section each rule reads (a setting a rule does not read must not
# re-run it: Snakemake re-runs a job whose params change)
BEH_FEATURES = {
    k: BEH[k]
    for k in ("fps", "px_per_mm", "landmarks", "edge_nodes", "windows_s", "smooth_s")
}
BEH_LABELS = {k: BEH[k] for k in LABEL_KEYS}
BEH_CLASSIFY = {k: BEH[k] for k in CLASSIFY_KEYS}
BEH_METRICS = {k: BEH[k] for k in ("behaviours", "exclusive", "bouts")}
BEH_MOTIFS = {"motifs": BEH["motifs"]}
BEH_REPORT = {k: BEH[k] for k in ("behaviours", "exclusive")}


def pose_of(video):
    return VIDEO_CFG[video].get("pose")


def beh_trackers_of(video):
    """The track sources a video gets behaviour features from: the models' tracks, the truth
    (mask truth only) and the pose file, filtered by `behaviour.trackers` when set."""
    found = list(MODELS) if video in VIDEOS else []
    if video in WITH_TRUTH and match_of(video) == "mask":
        found.append("truth")
    if pose_of(video):
        found.append("pose")
    wanted = BEH["trackers"]
    return [t for t in found if wanted is None or t in wanted or t == BEH_TRAIN]


if BEH_ON:
    for _v in BEH_LABELLED + BEH_TRUTH:
        if BEH_TRAIN not in beh_trackers_of(_v):
            raise WorkflowError(
                f"config: behaviour.train_tracker {BEH_TRAIN!r} has no tracks for {_v!r}"
            )
# Every (tracker, video) with behaviour features, in one order (as TRACK_PAIRS).
BEH_PAIRS = [(t, v) for v in ENTRIES for t in beh_trackers_of(v)] if BEH_ON else []


@per_job
def beh_track_source(wildcards):
    """The table a behaviour feature job reads: a track table, the truth, or the pose file."""
    if wildcards.tracker == "pose":
        return pose_of(wildcards.video)
    if wildcards.tracker == "truth":
        return truth_of(wildcards.video)
    return f"results/tracks/{wildcards.tracker}/{wildcards.video}.parquet"


@per_job
def beh_probe(wildcards):
    """The probe (frame count, frame rate) of a video with a file; none for pose-only."""
    return (
        [] if wildcards.video in POSE_ONLY else f"results/probe/{wildcards.video}.json"
    )


@per_job
def beh_label_file(wildcards):
    if DEMO:
        return f"resources/demo/behaviour/{wildcards.video}.tsv"
    return VIDEO_CFG[wildcards.video]["behaviour_labels"]["path"]


def beh_label_format(video):
    if DEMO:
        return "boris"
    return VIDEO_CFG[video]["behaviour_labels"].get("format", "bouts")


# --- exports ---------------------------------------------------------------------------------
# The file name endings (ethoflow.io.exports.FORMATS holds the same; a test checks).
EXPORT_ENDINGS = {"mot": ".mot.txt", "annolid": ".annolid.csv", "pose": ".pose.h5"}
EXPORTS = [
    f"results/exports/{m}/{v}{EXPORT_ENDINGS[f]}"
    for f in config["exports"]
    for m in MODELS
    for v in VIDEOS
]


def export_inputs(wildcards):
    """The track table, the probe (the video's length) and, for videos with keypoint labels,
    the keypoint table (the pose export carries its nodes)."""
    out = {
        "tracks": f"results/tracks/{wildcards.model}/{wildcards.video}.parquet",
        "probe": f"results/probe/{wildcards.video}.json",
    }
    if wildcards.video in KEYPOINT_VIDEOS:
        out["keypoints"] = f"results/keypoints/{wildcards.video}.parquet"
    return out


# --- aggregates ------------------------------------------------------------------------------
# Every video's cohort, group and condition columns (the sheet's; a `videos:` or demo entry's
# `cohort` and `group`): read by the aggregate job alone, so editing a condition re-runs
# aggregation and the report and nothing per video.
if DEMO:
    CONDITIONS = [
        {"video": v, "cohort": s.get("cohort"), "group": s.get("group")}
        for v, s in config["demo"]["videos"].items()
    ]
    CONDITION_COLUMNS = ["video", "cohort", "group"]
else:
    CONDITIONS = video_sheet.conditions_records(_SHEET.conditions)
    CONDITION_COLUMNS = list(_SHEET.conditions.columns)
# the groups to test must exist before anything runs (cohort and group: empty means "all")
_BY = config["aggregate"]["compare_by"]
if config["aggregate"]["compare"]:
    if _BY not in CONDITION_COLUMNS:
        raise WorkflowError(
            f"config: aggregate.compare_by {_BY!r} is no condition column "
            f"(columns: {CONDITION_COLUMNS[1:]})"
        )
    _LEVELS = {
        str(r[_BY]) if r.get(_BY) not in (None, "") else "all" for r in CONDITIONS
    }
    for _pair in config["aggregate"]["compare"]:
        for _level in _pair:
            if _level not in _LEVELS:
                raise WorkflowError(
                    f"config: aggregate.compare: {_BY} {_level!r} has no videos "
                    f"({_BY}s: {sorted(_LEVELS)})"
                )
# The trained models' (model, video) pairs; behaviour budgets as ("classifier/tracker", video).
MODEL_PAIRS = [(m, v) for v in VIDEOS for m in MODELS]
BUDGET_PAIRS = [
    (f"{c}/{BEH_TRAIN}", v)
    for c in CLASSIFIERS
    for v in VIDEOS
    if MODELS and BEH_TRAIN in beh_trackers_of(v)
]


# --- per-video report pages --------------------------------------------------------------------
@per_job
def video_trackers(wildcards):
    return trackers_of(wildcards.video)


@per_job
def video_scored_trackers(wildcards):
    """The trackers with per-video metrics of this video (those with truth)."""
    return trackers_of(wildcards.video) if wildcards.video in WITH_TRUTH else []


@per_job
def video_overlay_models(wildcards):
    return MODELS if wildcards.video in OVERLAY_VIDEOS else []


@per_job
def video_gate(wildcards):
    """The centroid gate (px) of a video scored on keypoint centroids, else None."""
    v = wildcards.video
    if v in WITH_TRUTH and match_of(v) == "centroid":
        return video_gate_px(wildcards)
    return None


@per_job
def video_page_inputs(wildcards):
    """One video's track tables, truth, per-video metrics, QA tables and overlay videos."""
    v = wildcards.video
    return {
        "tracks": [f"results/tracks/{t}/{v}.parquet" for t in trackers_of(v)],
        "truth": [truth_of(v)] if v in WITH_TRUTH else [],
        "metrics": [
            f"results/metrics/{t}/videos/{v}.json"
            for t in video_scored_trackers(wildcards)
        ],
        "qa": [f"results/qa/tracks/{m}/{v}.parquet" for m in MODELS],
        "overlays": [
            f"results/report/overlays/{m}/{v}.mp4"
            for m in video_overlay_models(wildcards)
        ],
    }


VIDEO_PAGES = [f"results/report/videos/{v}.html" for v in VIDEOS] if MODELS else []
