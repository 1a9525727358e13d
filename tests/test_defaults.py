"""One source of truth for defaults: the library's table (ethoflow.defaults) equals the config
file users read, and every function that takes a config section defaults to that table."""

import inspect
from pathlib import Path

import pytest
import yaml

from ethoflow import defaults as D
from ethoflow import report
from ethoflow.evaluation import mot, truth, video
from ethoflow.labels import annotations, foreground, frames
from ethoflow.labels import qa as qa_mod
from ethoflow.labels.bootstrap import masks as boot_masks
from ethoflow.tracking import classical

REPO = Path(__file__).resolve().parents[1]
CONFIG = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


@pytest.mark.parametrize("section", sorted(D.SECTIONS))
def test_config_sections_equal_the_library_table(section):
    assert CONFIG[section] == D.SECTIONS[section]


def test_report_defaults_equal_the_config():
    for key, value in D.REPORT.items():
        assert CONFIG["report"][key] == value
    max_frames = inspect.signature(report.render_overlay).parameters["max_frames"].default
    assert max_frames == D.REPORT["overlay_max_frames"]


def test_every_model_lists_every_training_and_inference_setting():
    for name, model in CONFIG["model_settings"].items():
        assert set(model["train"]) == set(D.TRAIN), name
        assert set(model["train"]["augment"]) == set(D.TRAIN["augment"]), name
        assert set(model["infer"]) == set(D.INFER), name
    default = CONFIG["model_settings"][CONFIG["models"][0]]
    assert default["train"] == D.TRAIN
    assert default["infer"] == D.INFER


def _keyword_defaults(func):
    return {
        k: p.default
        for k, p in inspect.signature(func).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


def _infer_shard():
    infer = pytest.importorskip("ethoflow.tracking.infer")
    return infer.infer_shard


@pytest.mark.parametrize(
    ("func", "table"),
    [
        (lambda: frames.select_frames, D.FRAMES),
        (lambda: frames.extract_frames, D.FRAMES),
        (lambda: annotations.import_annotations, D.ANNOTATIONS),
        (lambda: foreground.foreground, D.BOOTSTRAP),
        (lambda: foreground.foreground_details, D.BOOTSTRAP),
        (lambda: boot_masks.instance_masks, D.BOOTSTRAP),
        (lambda: classical.track_video, D.BASELINES),
        (_infer_shard, D.INFER),
        (lambda: mot.evaluate_tracks, D.METRICS),
        (lambda: mot.mot_metrics, D.METRICS),
        (lambda: mot.identity_accuracy, D.METRICS),
        (lambda: video.evaluate_video, D.METRICS),
        (lambda: truth.identity_status, D.METRICS),
        (lambda: report.build_report, D.METRICS),
        (lambda: report.timeline_figure, D.METRICS),
    ],
    ids=[
        "select_frames",
        "extract_frames",
        "import_annotations",
        "foreground",
        "foreground_details",
        "instance_masks",
        "classical.track_video",
        "infer_shard",
        "evaluate_tracks",
        "mot_metrics",
        "identity_accuracy",
        "evaluate_video",
        "identity_status",
        "build_report",
        "timeline_figure",
    ],
)
def test_keyword_defaults_come_from_the_table(func, table):
    """A keyword named like a config key defaults to the table's value (no second copy)."""
    kw = _keyword_defaults(func())
    shared = set(kw) & set(table)
    assert shared, "the function takes none of the section's keys"
    assert {k: kw[k] for k in shared} == {k: table[k] for k in shared}


def test_qa_settings_default_to_the_table():
    s = qa_mod.settings_of(None)
    assert {**s, "area_ratio": list(s["area_ratio"])} == D.QA


def test_bootstrap_settings_reach_a_function_that_takes_them():
    """Every key of the bootstrap section is read by the step or taken by the mask functions,
    so no setting in the config is silently ignored."""
    taken = set(_keyword_defaults(boot_masks.instance_masks))
    taken |= set(_keyword_defaults(foreground.foreground_details))
    from ethoflow.labels.bootstrap.step import STEP_KEYS

    assert set(D.BOOTSTRAP) <= taken | set(STEP_KEYS)
