"""The library's defaults, one table per section of ``config/config.yaml``.

The config file is what users read and change; this table is what a library function falls back
on when it is called outside the workflow (a notebook, a test, a benchmark). ``tests/
test_defaults.py`` holds every section here equal to the config file, and every keyword default
of the functions that take a section equal to this table, so the two cannot drift apart.

``TRAIN`` and ``INFER`` are those of the config's default model (``model_settings.maskrcnn``);
each model in the config lists every key of them.
"""

from __future__ import annotations

FRAMES = {"n": 40, "method": "kmeans", "seed": 0}

ANNOTATIONS = {"val_fraction": 0.2}

TRAIN = {
    "iterations": 360,
    "batch_size": 4,
    "lr": 0.001,
    "weight_decay": 0.0001,
    "warmup": 50,
    "grad_clip": 10.0,
    "checkpoint_every": 40,
    "seed": 0,
    "augment": {
        "hflip": True,
        "vflip": True,
        "transpose": True,
        "brightness": 0.1,
        "contrast": 0.1,
    },
}

INFER = {"batch_size": 4, "min_score": 0.05, "mask_threshold": 0.5}

TRACKING = {
    "min_score": 0.3,
    "cluster_iou": 0.5,
    "iou_weight": 1.0,
    "min_class_score": 0.5,
    "fallback_iou": 0.3,
    "max_age": 15,
    "max_gap": 10,
}

BOOTSTRAP = {
    "frames": "extracted",
    "background_frames": 50,
    "diff_threshold": 25,
    "polarity": "auto",
    "min_area": 30,
    "open_px": 1,
    "close_px": 2,
    "block_size": 51,
    "offset": 10,
    "seed_radius": 2,
    "dilate": 0,
    "max_area_factor": 4.0,
    "min_keypoints_inside": 0.9,
    "inside_px": 2,
    "thin_px": 4,
    "hysteresis": 0.25,
    "seam_cost": 4.0,
    "smooth_px": 1.0,
    "overlay_frames": 6,
}

BASELINES = {
    "classical": True,
    "diff_threshold": 25,
    "polarity": "auto",
    "min_area": 30,
    "max_distance": 50.0,
    "background_frames": 50,
    "background_percentile": None,
    "fill_still": True,
    "open_px": 1,
    "close_px": 0,
}

QA = {
    "max_overlap": 0.2,
    "area_ratio": [0.5, 2.0],
    "max_jump": 50.0,
    "max_gap": 1,
    "review_limit": 50,
}

METRICS = {"iou_threshold": 0.5, "gate_px": 50.0}

REPORT = {"overlay_max_frames": 300}

BEHAVIOUR = {
    "enabled": True,
    "behaviours": ["explore", "approach", "investigate", "leave", "cross", "rest"],
    "exclusive": True,
    "overlap": "priority",
    "mapping": {},
    "ignore": [],
    "span_types": [],
    "raters": "majority",
    "trackers": None,
    "train_tracker": None,
    "fps": None,
    "px_per_mm": None,
    "landmarks": [],
    "edge_nodes": None,
    "windows_s": [0.5, 1.0, 2.0, 4.0],
    "smooth_s": 0.2,
    "classifiers": ["tcn", "trees"],
    "cv_blocks": 0,
    "tcn": {
        "channels": 32,
        "layers": 7,
        "stages": 2,
        "dropout": 0.5,
        "epochs": 40,
        "min_batches": 10,
        "lr": 0.001,
        "weight_decay": 0.0001,
        "crop": 512,
        "batch_size": 6,
        "smooth_weight": 0.15,
        "smooth_tau": 4.0,
        "max_class_weight": 10.0,
        "checkpoint_every": 5,
        "seed": 0,
        "device": "cpu",
        "weights": None,
        "window_inputs": True,
        "auxiliary": {},
    },
    "trees": {
        "max_iter": 200,
        "learning_rate": 0.1,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "max_samples": 200000,
        "seed": 0,
    },
    "bouts": {"min_bout_s": 0.2, "merge_gap_s": 0.2},
    "motifs": {"enabled": True, "sample": 20000, "seed": 0},
}

AGGREGATE = {"moving_px_s": 20.0, "compare": [], "compare_by": "group"}

#: config section -> its table here.
SECTIONS = {
    "frames": FRAMES,
    "annotations": ANNOTATIONS,
    "tracking": TRACKING,
    "bootstrap": BOOTSTRAP,
    "baselines": BASELINES,
    "qa": QA,
    "metrics": METRICS,
    "behaviour": BEHAVIOUR,
    "aggregate": AGGREGATE,
}
