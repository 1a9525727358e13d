"""One source of truth for defaults: the library's table (ethoflow.defaults) equals the config
file users read, and every function that takes a config section defaults to that table."""

import inspect
from pathlib import Path

import pytest
import yaml

from ethoflow import defaults as D
from ethoflow import report
from ethoflow.labels import foreground
from ethoflow.labels import qa as qa_mod
from ethoflow.labels.bootstrap import masks as boot_masks

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


#: (module, function, the table its keyword defaults come from)
TAKERS = [
    ("ethoflow.labels.frames", "select_frames", D.FRAMES),
    ("ethoflow.labels.frames", "extract_frames", D.FRAMES),
    ("ethoflow.labels.annotations", "import_annotations", D.ANNOTATIONS),
    ("ethoflow.labels.foreground", "foreground", D.BOOTSTRAP),
    ("ethoflow.labels.foreground", "foreground_details", D.BOOTSTRAP),
    ("ethoflow.labels.bootstrap.masks", "instance_masks", D.BOOTSTRAP),
    ("ethoflow.tracking.classical", "track_video", D.BASELINES),
    ("ethoflow.tracking.infer", "infer_shard", D.INFER),
    ("ethoflow.evaluation.mot", "evaluate_tracks", D.METRICS),
    ("ethoflow.evaluation.mot", "mot_metrics", D.METRICS),
    ("ethoflow.evaluation.mot", "identity_accuracy", D.METRICS),
    ("ethoflow.evaluation.video", "evaluate_video", D.METRICS),
    ("ethoflow.evaluation.truth", "identity_status", D.METRICS),
    ("ethoflow.report", "build_report", D.METRICS),
    ("ethoflow.report", "timeline_figure", D.METRICS),
]


@pytest.mark.parametrize(("module", "name", "table"), TAKERS, ids=[n for _, n, _ in TAKERS])
def test_keyword_defaults_come_from_the_table(module, name, table):
    """A keyword named like a config key defaults to the table's value (no second copy)."""
    kw = _keyword_defaults(getattr(pytest.importorskip(module), name))
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
