"""The SLEAP fly clip through the whole workflow, at CI size: a slice of the clip at a quarter of
its size, masks bootstrapped from the proofread keypoints of frames the extraction picks, one
model family trained, every frame tracked and scored against the keypoints (50 px gate) beside
SLEAP's own tracker output and the classical baseline. Then the label review loop: a flagged
label frame, its corrected LabelMe file, and a re-run of only what it changes.

Skips where the real data is absent. The full-size figures (all 1500 frames, <= 100 labelled
frames, both families) are in the README; this checks the same path at a size CI can afford.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
import yaml

from .conftest import copy_workflow, planned_jobs, run_snakemake

pytestmark = pytest.mark.dag

CLIP = [0, 400]  # frames of the 1500-frame clip
FLY_CI = {
    "identities": ["female", "male"],
    "demo": {"enabled": False},
    "frames": {"n": 24, "method": "kmeans", "seed": 0},
    "models": ["maskrcnn"],
    "inference": {"shards": 2},
    "model_settings": {
        "maskrcnn": {
            "threads": 2,
            "train": {"iterations": 160, "checkpoint_every": 40, "warmup": 20},
        }
    },
    "report": {"overlay_videos": ["fly"], "overlay_max_frames": 100},
}
#: What the CI-size run must reach. Measured: 1.000 for all three (160 iterations, 108 s of
#: training); the full clip with 100 frames also scores 1.000. 0.98 allows 16 of the slice's 800
#: animal-frames to go wrong; a model that learned nothing scores MOTA <= 0.
FLOOR = {"mota": 0.98, "idf1": 0.98, "identity_accuracy": 0.98}


@pytest.fixture(scope="module")
def fly_run(shared_data, tmp_path_factory):
    d = shared_data / "sleap-fly-clip"
    wd = copy_workflow(tmp_path_factory.mktemp("fly"))
    cfg = dict(FLY_CI)
    cfg["videos"] = {
        "fly": {
            "path": str(d / "clip.mp4"),
            "keypoints": str(d / "clip.slp"),
            "labels": "labels/fly",
            "truth": "keypoints",
            "compare": {"sleap": str(d / "clip.predictions.slp")},
            "downscale": 4,
            "clip": CLIP,
        }
    }
    (wd / "fly.yaml").write_text(yaml.safe_dump(cfg))
    run_snakemake(wd, "--configfile", "fly.yaml")
    return wd


def summary(wd) -> pd.DataFrame:
    return pd.read_csv(wd / "results" / "metrics" / "summary.csv").set_index("model")


def test_fly_clip_slice_is_tracked_and_scored_beside_sleap_and_the_classical_baseline(fly_run):
    wd = fly_run
    s = summary(wd)
    print(s[["kind", "mota", "idf1", "id_switches", "identity_accuracy"]].to_string())
    assert {"maskrcnn", "classical", "sleap"} <= set(s.index)
    assert (s["match"] == "centroid").all()
    # Labels: only frames the extraction picked, every one bootstrapped from the keypoints.
    picked = json.loads((wd / "results/frames/fly/frames.json").read_text())["frames"]
    assert len(picked) == FLY_CI["frames"]["n"]
    images = [
        img["file_name"]
        for part in ("train", "val")
        for img in json.loads((wd / f"results/dataset/{part}.json").read_text())["images"]
    ]
    assert sorted(images) == sorted(f"fly_{i:06d}.png" for i in picked)
    boot = pd.read_csv(wd / "results/bootstrap/fly/bootstrap.csv")
    assert len(boot) == 2 * len(picked)
    assert boot["keypoints_inside"].mean() > 0.95
    # Floors at CI size (24 labelled frames of a 256 px copy, 160 iterations from scratch; the
    # full clip with 100 frames is in the README).
    mrcnn = s.loc["maskrcnn"]
    assert mrcnn["mota"] >= FLOOR["mota"], mrcnn
    assert mrcnn["idf1"] >= FLOOR["idf1"], mrcnn
    assert mrcnn["identity_accuracy"] >= FLOOR["identity_accuracy"], mrcnn
    # The flies stay apart in this slice: the classical tracker is near perfect here.
    assert s.loc["classical", "mota"] >= 0.95
    assert 0 < s.loc["sleap", "mota"] <= 1
    html = (wd / "results/report/index.html").read_text()
    for part in ("sleap", "classical", "Masks from keypoints", "Label and track quality checks"):
        assert part in html, part


def _shapes_of(doc, identity):
    return [sh for sh in doc["shapes"] if sh["label"] == identity]


def test_fly_label_review_loop_reruns_only_what_a_corrected_label_changes(fly_run):
    """A labeller's mistake (one fly left out of a frame) is flagged, shows up in the review
    queue pre-filled, is corrected and dropped into the labels folder; the next run retrains
    and re-infers but neither re-extracts, re-bootstraps nor re-imports keypoints."""
    wd = fly_run
    boot_dir = wd / "results/bootstrap/fly"
    name = sorted(p.stem for p in boot_dir.glob("fly_*.json"))[0]
    good = json.loads((boot_dir / f"{name}.json").read_text())
    assert _shapes_of(good, "female") and _shapes_of(good, "male")
    labels = wd / "labels/fly"
    labels.mkdir(parents=True, exist_ok=True)
    bad = dict(good, shapes=_shapes_of(good, "female"))
    bad["imagePath"] = str((boot_dir / good["imagePath"]).resolve())
    (labels / f"{name}.json").write_text(json.dumps(bad))

    run_snakemake(wd, "results/qa/review/labels", "--configfile", "fly.yaml")
    qa = pd.read_parquet(wd / "results/qa/labels.parquet")
    flagged = qa[(qa["name"] == name) & (qa["check"] == "missing")]
    assert list(flagged["identity"]) == ["male"], qa
    review = wd / "results/qa/review/labels"
    queued = json.loads((review / f"{name}.json").read_text())
    assert _shapes_of(queued, "female") and not _shapes_of(queued, "male")

    # The person's correction in LabelMe: the missing fly drawn back in.
    queued["shapes"] += _shapes_of(good, "male")
    (labels / f"{name}.json").write_text(json.dumps(queued))
    shutil.rmtree(review)  # the queue is an output: a person need not keep it
    jobs = planned_jobs(wd, "--configfile", "fly.yaml")
    for rule in ("import_annotations", "qa_labels", "train", "infer_shard", "track"):
        assert jobs.get(rule), (rule, jobs)
    for rule in (
        "prepare_video",
        "import_keypoints",
        "keypoint_truth",
        "import_compare",
        "probe",
        "extract_frames",
        "bootstrap_masks",
        "classical_track",
    ):
        assert rule not in jobs, (rule, jobs)
    run_snakemake(wd, "results/qa/labels.parquet", "--configfile", "fly.yaml")
    qa = pd.read_parquet(wd / "results/qa/labels.parquet")
    assert not ((qa["name"] == name) & (qa["check"] == "missing")).any(), qa
